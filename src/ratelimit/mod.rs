//! Rate limiting: the GCRA math, rate keys, the bounded per-isolate table, rule config and the
//! IETF `RateLimit` headers, and the `durable` backend's Durable Object logic (`shard`) and wire
//! format (`durable`). Pure; the I/O of the Durable Object and of the Workers binding lives in the adapter.
//!
//! # Why GCRA rather than a sliding-window counter
//! - **O(1) state per key, one number**: the theoretical arrival time (TAT). A sliding-window
//!   counter needs two counters and a window start per key (the approximate variant) or one
//!   timestamp per admitted request (the exact log). One `u64` keeps the per-isolate table small
//!   and makes a Durable Object's storage a single value per key.
//! - **Exact at boundaries**: a burst of exactly `limit` is admitted, the next request is refused
//!   with the exact time until one unit comes back, and units return smoothly every
//!   `period / limit`. The approximate sliding window weights the previous window linearly and
//!   can admit up to ~2× the limit around a window edge or refuse early; GCRA has no edges.
//! - **No background work**: a key whose TAT is in the past is the same as an absent key, so
//!   expiry is a comparison, and eviction of such keys loses nothing.
//! - The answer directly yields `Retry-After`, `RateLimit`'s remaining and reset.
//!
//! The TAT is kept in **nanoseconds** since the epoch: the emission interval `period / limit` is
//! then exact to 1 ns for any quota (e.g. 3 per second), and a stored TAT keeps its meaning when a
//! rule's quota is changed between deploys.

pub mod durable;
mod gcra;
mod headers;
mod key;
mod local;
mod rule;
pub mod shard;

pub use gcra::{check, Outcome, Quota, QuotaError};
pub use headers::{combine, rate_limit_headers, retry_after_secs, Combined, RuleOutcome};
pub use key::{account_of_body, KeyInput, KeyParts, MissingKeyPart, RateKey};
pub use local::{LimiterStats, LocalLimiter};
pub use rule::{default_rules, parse_rules, Backend, RateRule, RuleConfigError};

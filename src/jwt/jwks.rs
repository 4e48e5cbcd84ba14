//! The JWKS cache for one issuer, as a pure state machine the adapter drives: it says when to
//! fetch (single flight, rate-limited unknown-`kid` refetches), digests the responses
//! (`Cache-Control` → TTL within bounds), and answers which keys are usable now (stale keys keep
//! working after fetch errors, up to a maximum staleness; no keys at all → `jwks_unavailable`).

use core::fmt;
use std::sync::Arc;

use super::{KeyError, KeySet};
use crate::reason::Reason;
use crate::time::UnixMillis;

/// Tunables, all in seconds. `Default` gives the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksPolicy {
    /// Lower bound of the freshness TTL (also used for `no-store`/`no-cache`). Default 60.
    pub min_ttl_secs: u64,
    /// Upper bound of the freshness TTL. Default 86 400 (24 h).
    pub max_ttl_secs: u64,
    /// TTL when the response has no usable `max-age`. Default 300.
    pub default_ttl_secs: u64,
    /// How long past freshness keys still verify while refreshes fail. Default 86 400.
    pub max_staleness_secs: u64,
    /// Minimum spacing of refetches triggered by an unknown `kid`. Default 30.
    pub unknown_kid_interval_secs: u64,
    /// A fetch in flight longer than this is presumed lost; another may start. Default 10.
    pub fetch_lease_secs: u64,
    /// After a failed fetch, wait this long before the next scheduled attempt. Default 10.
    pub error_retry_secs: u64,
}

impl Default for JwksPolicy {
    fn default() -> Self {
        JwksPolicy {
            min_ttl_secs: 60,
            max_ttl_secs: 24 * 3600,
            default_ttl_secs: 300,
            max_staleness_secs: 24 * 3600,
            unknown_kid_interval_secs: 30,
            fetch_lease_secs: 10,
            error_retry_secs: 10,
        }
    }
}

/// Why a fetch was started (for logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchReason {
    /// No keys yet.
    Initial,
    /// The cached keys are past their TTL.
    Expired,
    /// A token named a `kid` the cached set does not have.
    UnknownKid,
}

/// Permission to run one JWKS fetch. While it is outstanding (and its lease runs), no other
/// fetch is handed out. Report the outcome with [`JwksCache::on_fetch_ok`] / [`JwksCache::on_fetch_err`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a ticket means: fetch the JWKS now, then report the outcome"]
pub struct FetchTicket {
    pub reason: FetchReason,
    pub lease_until: UnixMillis,
}

/// No keys can be used for the issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksError {
    /// Never fetched successfully, or the last good keys are older than the max staleness.
    Unavailable { retry_after_secs: u64 },
    /// A response body was not a usable JWKS (the last good keys are kept).
    InvalidJwks(KeyError),
}

impl JwksError {
    pub fn reason(&self) -> Reason {
        Reason::JwksUnavailable
    }
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksError::Unavailable { retry_after_secs } => write!(
                f,
                "no usable signing keys for the issuer (retry after {retry_after_secs} s)"
            ),
            JwksError::InvalidJwks(e) => write!(f, "fetched jwks is unusable: {e}"),
        }
    }
}

impl std::error::Error for JwksError {}

/// Parses the freshness lifetime from a `Cache-Control` value, bounded by the policy.
/// `s-maxage` wins over `max-age` (the edge is a shared cache); `no-store`/`no-cache` → minimum.
pub fn ttl_from_cache_control(value: Option<&str>, policy: &JwksPolicy) -> u64 {
    let mut max_age = None;
    let mut s_maxage = None;
    let mut no_cache = false;
    for directive in value.unwrap_or("").split(',') {
        let directive = directive.trim();
        let (name, arg) = match directive.split_once('=') {
            Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
            None => (directive, None),
        };
        let secs = || arg.and_then(|a| a.parse::<u64>().ok());
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            no_cache = true;
        } else if name.eq_ignore_ascii_case("s-maxage") {
            s_maxage = s_maxage.or(secs());
        } else if name.eq_ignore_ascii_case("max-age") {
            max_age = max_age.or(secs());
        }
    }
    let min = policy.min_ttl_secs;
    let max = policy.max_ttl_secs.max(min);
    if no_cache {
        return min;
    }
    s_maxage
        .or(max_age)
        .unwrap_or(policy.default_ttl_secs)
        .clamp(min, max)
}

#[derive(Debug)]
struct Cached {
    keys: Arc<KeySet>,
    fetched_at: UnixMillis,
    fresh_until: UnixMillis,
}

/// One issuer's JWKS state. Not thread-safe by design (one per isolate, single-threaded).
#[derive(Debug)]
pub struct JwksCache {
    policy: JwksPolicy,
    cached: Option<Cached>,
    in_flight_until: Option<UnixMillis>,
    last_unknown_kid_fetch: Option<UnixMillis>,
    retry_not_before: Option<UnixMillis>,
    consecutive_failures: u32,
}

impl JwksCache {
    pub fn new(policy: JwksPolicy) -> Self {
        JwksCache {
            policy,
            cached: None,
            in_flight_until: None,
            last_unknown_kid_fetch: None,
            retry_not_before: None,
            consecutive_failures: 0,
        }
    }

    pub fn policy(&self) -> &JwksPolicy {
        &self.policy
    }

    fn in_flight(&self, now: UnixMillis) -> bool {
        self.in_flight_until.is_some_and(|until| now < until)
    }

    /// Is a fetch running now (claimed, its lease not expired)? A request that needs the keys
    /// may wait for it rather than start another.
    pub fn fetch_in_flight(&self, now: UnixMillis) -> bool {
        self.in_flight(now)
    }

    fn ticket(&mut self, now: UnixMillis, reason: FetchReason) -> FetchTicket {
        let lease_until = now.plus_secs(self.policy.fetch_lease_secs);
        self.in_flight_until = Some(lease_until);
        FetchTicket {
            reason,
            lease_until,
        }
    }

    /// True when a scheduled refresh is due: no keys, or past the TTL, and not backing off
    /// after a failure. (Whether a fetch may start *now* is [`JwksCache::begin_fetch`]'s call.)
    pub fn needs_refresh(&self, now: UnixMillis) -> bool {
        if self.retry_not_before.is_some_and(|t| now < t) {
            return false;
        }
        match &self.cached {
            None => true,
            Some(c) => now >= c.fresh_until,
        }
    }

    /// Would [`begin_fetch`](Self::begin_fetch) start a fetch now? (Read-only, for callers
    /// that hand such requests to a path able to do the I/O.)
    pub fn fetch_due(&self, now: UnixMillis) -> bool {
        self.needs_refresh(now) && !self.in_flight(now)
    }

    /// Would [`begin_unknown_kid_fetch`](Self::begin_unknown_kid_fetch) allow a refetch now?
    pub fn unknown_kid_fetch_allowed(&self, now: UnixMillis) -> bool {
        let interval = self.policy.unknown_kid_interval_secs.saturating_mul(1000);
        !self.in_flight(now)
            && self
                .last_unknown_kid_fetch
                .is_none_or(|last| now.millis_since(last) >= interval)
    }

    /// A ticket for a scheduled refresh if one is due and no fetch is in flight (an expired
    /// lease counts as not in flight). `None` means: do not fetch now.
    pub fn begin_fetch(&mut self, now: UnixMillis) -> Option<FetchTicket> {
        if !self.needs_refresh(now) || self.in_flight(now) {
            return None;
        }
        let reason = if self.cached.is_some() {
            FetchReason::Expired
        } else {
            FetchReason::Initial
        };
        Some(self.ticket(now, reason))
    }

    /// A ticket for a refetch because a token named an unknown `kid`: at most one per
    /// `unknown_kid_interval_secs`, never while another fetch is in flight.
    pub fn begin_unknown_kid_fetch(&mut self, now: UnixMillis) -> Option<FetchTicket> {
        if self.in_flight(now) {
            return None;
        }
        let interval = self.policy.unknown_kid_interval_secs.saturating_mul(1000);
        if let Some(last) = self.last_unknown_kid_fetch {
            if now.millis_since(last) < interval {
                return None;
            }
        }
        self.last_unknown_kid_fetch = Some(now);
        Some(self.ticket(now, FetchReason::UnknownKid))
    }

    /// Digests a successful HTTP response. A body that is not a usable JWKS counts as a
    /// failed fetch (the last good keys stay). Returns the number of usable keys.
    pub fn on_fetch_ok(
        &mut self,
        now: UnixMillis,
        body: &str,
        cache_control: Option<&str>,
    ) -> Result<usize, JwksError> {
        match KeySet::from_jwks_json(body) {
            Ok(keys) => {
                let ttl = ttl_from_cache_control(cache_control, &self.policy);
                let n = keys.len();
                self.cached = Some(Cached {
                    keys: Arc::new(keys),
                    fetched_at: now,
                    fresh_until: now.plus_secs(ttl),
                });
                self.in_flight_until = None;
                self.retry_not_before = None;
                self.consecutive_failures = 0;
                Ok(n)
            }
            Err(e) => {
                self.on_fetch_err(now);
                Err(JwksError::InvalidJwks(e))
            }
        }
    }

    /// Records a failed fetch (network error, non-2xx, timeout). Keeps the last good keys.
    pub fn on_fetch_err(&mut self, now: UnixMillis) {
        self.in_flight_until = None;
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.retry_not_before = Some(now.plus_secs(self.policy.error_retry_secs));
    }

    /// The keys to verify with now: fresh, or stale within the max staleness.
    pub fn usable_keys(&self, now: UnixMillis) -> Result<&Arc<KeySet>, JwksError> {
        let retry_after_secs = self.retry_after_secs(now);
        match &self.cached {
            Some(c) if now < c.fresh_until.plus_secs(self.policy.max_staleness_secs) => Ok(&c.keys),
            _ => Err(JwksError::Unavailable { retry_after_secs }),
        }
    }

    /// The last key set fetched successfully, however old: what a route whose `jwks` failure
    /// policy is open verifies with once [`usable_keys`](Self::usable_keys) refuses them.
    pub fn last_good_keys(&self) -> Option<&Arc<KeySet>> {
        self.cached.as_ref().map(|c| &c.keys)
    }

    /// Seconds a client should wait before retrying when no keys are usable (≥ 1).
    fn retry_after_secs(&self, now: UnixMillis) -> u64 {
        let wait_ms = self
            .retry_not_before
            .map_or(0, |t| t.millis_since(now))
            .max(self.in_flight_until.map_or(0, |t| t.millis_since(now)));
        wait_ms.div_ceil(1000).max(1)
    }

    /// True when keys exist but are past their TTL (served stale).
    pub fn is_stale(&self, now: UnixMillis) -> bool {
        self.cached.as_ref().is_some_and(|c| now >= c.fresh_until)
    }

    /// When the cached keys were fetched, and until when they are fresh.
    pub fn fetched_at(&self) -> Option<UnixMillis> {
        self.cached.as_ref().map(|c| c.fetched_at)
    }

    pub fn fresh_until(&self) -> Option<UnixMillis> {
        self.cached.as_ref().map(|c| c.fresh_until)
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }
}

//! edge-auth: an authentication layer that runs at the edge as a Cloudflare Worker.
//!
//! The core (every module here but `worker`) is pure: no I/O, no runtime imports, the clock
//! passed in. It builds and is tested natively. The Workers adapter (`worker`) compiles only
//! for `wasm32` and is the only place that touches the runtime.

mod b64;
pub mod breaker;
pub mod call_frame;
pub mod config;
pub mod decision_cache;
pub mod deployment;
pub mod envelope;
#[cfg(not(target_arch = "wasm32"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod identity;
mod json;
pub mod jwt;
pub mod packed;
pub mod pipeline;
pub mod plan;
pub mod policy;
pub mod ratelimit;
pub mod reason;
pub mod request_fields;
pub mod respond;
pub mod revocation;
pub mod secret;
mod text;
pub mod time;
pub mod webhook;

#[cfg(target_arch = "wasm32")]
mod worker;

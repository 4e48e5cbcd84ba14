//! The Workers adapter (wasm32 only): thin bindings around the core's request pipeline
//! (`crate::pipeline`), which decides everything. Every call is synchronous: `entry.js` performs
//! all I/O (the forward, WebCrypto, body reads, the revocation feed and JWKS GETs, Durable Object
//! and rate-limiting-binding checks) as the plans say (`crate::plan`) and hands the results back.
//!
//! - `fast.rs`: the driver — starts a request's pipeline, parks it while JS performs a wait,
//!   resumes it with what JS reports, and runs background jobs the same way;
//! - `frame.rs`: the call frame's buffers — every export takes and returns numbers, and a call's
//!   strings and bytes cross in one buffer (`crate::call_frame`; JS side `frame.mjs`);
//! - `state.rs`: the isolate's one piece of state;
//! - `rate_limiter.rs`: the `RateLimiter` Durable Object's binding (its logic: `ratelimit::shard`).
//!
//! No async Rust and no `worker` crate: a fresh isolate compiles and validates only this (the
//! module shrank by a third when they went; docs/PERFORMANCE.md, issue 23).

mod fast;
mod frame;
mod rate_limiter;
mod state;

use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = log)]
    fn console_log_str(s: &str);
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error_str(s: &str);
    #[wasm_bindgen(js_namespace = console, js_name = warn)]
    fn console_warn_str(s: &str);
}

/// A log line for the Worker's log (`console.log`).
pub(crate) fn console_log(line: &str) {
    console_log_str(line);
}

/// An error line (`console.error`).
pub(crate) fn console_error(line: &str) {
    console_error_str(line);
}

/// A warning line (`console.warn`).
pub(crate) fn console_warn(line: &str) {
    console_warn_str(line);
}

#[wasm_bindgen]
extern "C" {
    /// `entry.js`'s hook: the instance trapped; reset it before the next call.
    #[wasm_bindgen(js_namespace = globalThis, js_name = __edgeAuthCrashed)]
    fn mark_crashed();
}

/// wasm-bindgen's abort handler: runs on any trap or exception out of an export (a panic
/// aborts), whatever the JS caller then does with the exception — so a `catch` around a call
/// into wasm cannot hide a dead instance from the reset in `entry.js`.
fn on_abort() {
    mark_crashed();
}

/// On instantiation: a panic says what it was before it aborts, and every abort marks the
/// instance for a reset (`entry.js`: `resetIfCrashed` before the next request).
#[wasm_bindgen(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        console_error(&format!("Rust panic: {info}"));
    }));
    wasm_bindgen::handler::set_on_abort(on_abort);
}

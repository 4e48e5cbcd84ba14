//! The Workers adapter (wasm32 only): the one place that imports `worker`. Two thin drivers
//! around the core's request pipeline (`crate::pipeline`), which decides everything:
//!
//! - the synchronous driver (`fast.rs`), called by `entry.js`: starts a pipeline and encodes
//!   each step with the plan protocol (`crate::plan`);
//! - the asynchronous driver (this module): `edge_io` carries out a wait the pipeline named
//!   (`Io`) with the `worker` crate and the runtime — a JWKS fetch, Durable Object or binding
//!   rate limits, an Ed25519 webhook check, and also any wait `entry.js` performs itself (a
//!   WebCrypto check, a capped body read, a page of the first revocation sync) — and resumes
//!   it; `edge_background` runs the work the core claimed for after the answer (revocation
//!   polls, JWKS refreshes).
//!
//! The module also holds the `RateLimiter` Durable Object (`rate_limiter.rs`).

mod fast;
mod fetch;
mod rate_limiter;
mod state;
mod webcrypto;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::pipeline::{
    BodyRead, Io, IoResult, RemoteBackend, RemoteCheck, RemoteOutcome, Task, FEED_MAX_PAGES,
};
use crate::ratelimit::durable::{self as wire, shard_name, BINDING};
use crate::ratelimit::{Outcome, Quota, RateKey};
use crate::time::UnixMillis;
use worker::Method;

fn now() -> UnixMillis {
    UnixMillis(js_sys::Date::now() as u64)
}

#[wasm_bindgen(module = "/src/worker/glue.js")]
extern "C" {
    /// The one capped body reader, shared with `entry.js` (see glue.js).
    #[wasm_bindgen(js_name = readCapped)]
    fn read_capped(req: &web_sys::Request, max: f64, declared: Option<String>) -> js_sys::Promise;
}

/// Carries out the wait a `wasm_io` plan names for the request parked under `ticket`, resumes
/// its pipeline, and returns the next plan.
#[wasm_bindgen]
pub async fn edge_io(ticket: u32, request: web_sys::Request, env: JsValue) -> String {
    let env: worker::Env = env.unchecked_into();
    let Some(Some(io)) = state::with(|iso| iso.parked(ticket).map(|(_, io)| io.clone())) else {
        return fast::lost();
    };
    let result = perform(ticket, io, &request, &env).await;
    fast::resume(ticket, result, now())
}

/// Runs the background work queued by earlier plans (called through `ctx.waitUntil`).
#[wasm_bindgen]
pub async fn edge_background() {
    let Some(tasks) = state::with(|iso| iso.take_background()) else {
        return;
    };
    for task in tasks {
        match task {
            Task::Revocations => sync_revocations().await,
            Task::Jwks { issuer, url } => fetch_jwks(&issuer, &url).await,
        }
    }
}

async fn perform(ticket: u32, io: Io, request: &web_sys::Request, env: &worker::Env) -> IoResult {
    match io {
        Io::FeedPage(req) => IoResult::Fetched(fetch::feed(&req).await),
        Io::Jwks { issuer, url } => {
            fetch_jwks(&issuer, &url).await;
            IoResult::Done
        }
        Io::RateLimits(checks) => {
            let mut answers = Vec::with_capacity(checks.len());
            for c in &checks {
                answers.push(check_remote(env, c).await);
            }
            IoResult::RateLimits(answers)
        }
        Io::Ed25519(job) => {
            let mut hit = None;
            for (i, (key, sig)) in job.candidates.iter().enumerate() {
                if webcrypto::ed25519_verify(key, &job.message, sig).await {
                    hit = Some(i);
                    break;
                }
            }
            IoResult::Ed25519(hit)
        }
        Io::Signature(job) => {
            let at = now();
            let key = || {
                state::with(|iso| {
                    iso.parked(ticket)
                        .and_then(|(p, _)| p.key_to_import(iso, at))
                })
                .flatten()
            };
            IoResult::Signature(webcrypto::verify_jws(&job, key).await)
        }
        Io::Body { max_bytes, headers } => {
            IoResult::Body(read_body(request, max_bytes, headers).await)
        }
    }
}

/// The body through glue.js's reader (the same cap and drain as `entry.js`), and the headers.
async fn read_body(request: &web_sys::Request, max: u64, names: &[&str]) -> BodyRead {
    let h = request.headers();
    let get = |n: &str| h.get(n).ok().flatten();
    let content_length = get("content-length");
    let bytes = match JsFuture::from(read_capped(request, max as f64, content_length.clone())).await
    {
        Ok(v) if v.is_null() => None,
        Ok(v) => Some(js_sys::Uint8Array::new(&v).to_vec()),
        Err(e) => {
            // A broken upload reads as one too large to take: refused, never half-verified.
            worker::console_error!(
                "{}",
                serde_json::json!({"event": "body_read_failed", "detail": fetch::js_error(&e)})
            );
            None
        }
    };
    BodyRead {
        headers: names
            .iter()
            .filter_map(|n| get(n).map(|v| ((*n).to_owned(), v)))
            .collect(),
        content_length,
        bytes,
    }
}

/// One remote rate-limit check. A backend that cannot answer (the binding missing, the object
/// unreachable, an error from `limit()`) is reported as it is, `Unavailable` with the error: what
/// that means for the request is the route's failure policy, decided in the core.
async fn check_remote(env: &worker::Env, c: &RemoteCheck) -> RemoteOutcome {
    match &c.backend {
        RemoteBackend::Durable => match check_durable(env, &c.key, c.quota, 1).await {
            Ok(o) => RemoteOutcome::Durable(o),
            Err(e) => RemoteOutcome::Unavailable(e.to_string()),
        },
        RemoteBackend::Binding(name) => {
            let limited = async {
                Ok::<_, worker::Error>(env.rate_limiter(name)?.limit(c.key.to_hex()).await?.success)
            };
            match limited.await {
                Ok(admitted) => RemoteOutcome::Binding(admitted),
                Err(e) => RemoteOutcome::Unavailable(e.to_string()),
            }
        }
    }
}

/// Fetches the issuer's JWKS and reports it to the core, or, when a fetch of it is already
/// running (another request's, or a background refresh), waits for that one (single flight).
async fn fetch_jwks(issuer: &str, url: &str) {
    let running = match state::jwks_fetch(issuer) {
        Some(p) => p,
        None => {
            let (iss, u) = (issuer.to_owned(), url.to_owned());
            // Spawned: it first runs in a later microtask, after it is recorded below.
            let p = wasm_bindgen_futures::future_to_promise(async move {
                let result = fetch::jwks(&u).await;
                state::with(|iso| iso.jwks_fetched(&iss, &u, result, now()));
                state::set_jwks_fetch(&iss, None);
                Ok(JsValue::UNDEFINED)
            });
            state::set_jwks_fetch(issuer, Some(p.clone()));
            p
        }
    };
    // The fetch reports its own outcome; it never rejects.
    let _ = JsFuture::from(running).await;
}

/// A background poll: reads the revocation feed until drained (an empty page), at most
/// `FEED_MAX_PAGES` pages — the rule the first sync follows in the pipeline.
async fn sync_revocations() {
    for _ in 0..FEED_MAX_PAGES {
        let Some(req) = state::with(|iso| iso.feed_request(now())) else {
            return;
        };
        let result = match req {
            Ok(r) => fetch::feed(&r).await.page(),
            Err(e) => Err(e),
        };
        if state::with(|iso| iso.feed_polled(result, now())) != Some(true) {
            return;
        }
    }
}

/// Asks the key's shard object whether `cost` units may be spent now. An error (missing
/// binding, object unreachable, malformed answer) is reported to the core as
/// `RemoteOutcome::Unavailable`; the route's `rate_limiter` failure policy decides there
/// (open: the isolate counts instead; strict: 503 `rate_limiter_unavailable`).
async fn check_durable(
    env: &worker::Env,
    key: &RateKey,
    quota: Quota,
    cost: u32,
) -> std::result::Result<Outcome, worker::Error> {
    let stub = env
        .durable_object(BINDING)?
        .id_from_name(&shard_name(key))?
        .get_stub()?;
    let url = wire::request_url(key, quota, cost);
    let mut resp = stub
        .fetch_with_request(worker::Request::new(&url, Method::Post)?)
        .await?;
    let body = resp.text().await?;
    if resp.status_code() != 200 {
        return Err(worker::Error::RustError(format!(
            "rate limiter answered {}: {body}",
            resp.status_code()
        )));
    }
    wire::parse_outcome(&body)
        .ok_or_else(|| worker::Error::RustError(format!("rate limiter answer malformed: {body}")))
}

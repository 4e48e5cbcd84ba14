//! The wasm floor: the smallest Rust/wasm Worker, written the way a newcomer writes a workers-rs
//! Worker (`#[event(fetch)]`, built by the same three steps as edge-auth: scripts/build-worker.sh).
//!
//! It exists for one row of the benchmark's start-up table (bench/run.sh, bench/report.mjs): what
//! a fresh isolate of *any* workers-rs Worker costs over a trivial JS Worker, i.e. whether
//! edge-auth's start-up goal is reachable at all for a Worker built this way. Never deployed.
//!
//! Var `FLOOR` picks what it does:
//! - `hello`: answers `ok` — the cost of a workers-rs Worker at all;
//! - `hs256`: the least a Worker doing our job could do — checks the HS256 signature of
//!   `Authorization: Bearer <jwt>` (key: var `HS256_KEY`, base64url of the raw key bytes), 401 if
//!   it is wrong, else forwards the request to var `ORIGIN_URL` + the path. No JSON, no claims, no
//!   identity headers: it does less than the job, so it bounds it from below.
#![cfg(target_arch = "wasm32")]

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasm_bindgen::JsValue;
use worker::{event, Context, Env, Error, Fetch, Request, RequestInit, Response, Result};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    match env.var("FLOOR")?.to_string().as_str() {
        "hello" => Response::ok("ok\n"),
        "hs256" => hs256_then_forward(req, &env).await,
        other => Response::error(format!("unknown FLOOR {other:?}"), 500),
    }
}

async fn hs256_then_forward(req: Request, env: &Env) -> Result<Response> {
    let key = URL_SAFE_NO_PAD
        .decode(env.var("HS256_KEY")?.to_string())
        .map_err(|e| Error::RustError(format!("HS256_KEY is not base64url: {e}")))?;
    if !signature_ok(req.headers().get("authorization")?.as_deref(), &key) {
        return Response::error("bad signature", 401);
    }
    let url = req.url()?;
    let target = match url.query() {
        Some(q) => format!("{}{}?{q}", env.var("ORIGIN_URL")?, url.path()),
        None => format!("{}{}", env.var("ORIGIN_URL")?, url.path()),
    };
    let mut init = RequestInit::new();
    init.with_method(req.method())
        .with_headers(req.headers().clone())
        .with_body(req.inner().body().map(JsValue::from));
    Fetch::Request(Request::new_with_init(&target, &init)?)
        .send()
        .await
}

/// Whether `Bearer <header>.<payload>.<signature>` carries a valid HMAC-SHA256 signature: split at
/// the last '.', MAC what precedes it, compare in constant time (`verify_slice`).
fn signature_ok(authorization: Option<&str>, key: &[u8]) -> bool {
    let Some(token) = authorization.and_then(|a| a.strip_prefix("Bearer ")) else {
        return false;
    };
    let Some((signed, signature)) = token.rsplit_once('.') else {
        return false;
    };
    let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return false; // unreachable: HMAC takes a key of any length
    };
    mac.update(signed.as_bytes());
    mac.verify_slice(&signature).is_ok()
}

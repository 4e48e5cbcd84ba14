//! The bare wasm floor: the least a Rust/wasm Worker built the way edge-auth is built since issue
//! 23 — no workers-rs, one synchronous wasm export per request, `entry.js` doing the I/O — must
//! compile and run to answer an HS256-authenticated request. Never deployed.
//!
//! It exists for one row of the start-up measurements (`bench/experiments/startup-ab.sh --floor`):
//! what a fresh isolate of such a Worker costs over a trivial JS Worker when it checks the HS256
//! signature of `Authorization: Bearer <jwt>` (HMAC-SHA256 in wasm, as edge-auth does) and
//! forwards. No JSON, no claims, no configuration beyond the key, no identity headers: it does less
//! than the job, so it bounds edge-auth's start-up from below. `bench/wasm-floor/` is the same
//! check written as a workers-rs Worker.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasm_bindgen::prelude::wasm_bindgen;

thread_local! {
    static KEY: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Takes the HMAC key (base64url of the raw bytes, var `HS256_KEY`); false if it is not base64url.
#[wasm_bindgen]
pub fn floor_configure(key_b64url: &str) -> bool {
    match URL_SAFE_NO_PAD.decode(key_b64url) {
        Ok(key) => {
            KEY.with(|k| *k.borrow_mut() = key);
            true
        }
        Err(_) => false,
    }
}

/// Whether `Bearer <header>.<payload>.<signature>` carries a valid HMAC-SHA256 signature: split at
/// the last '.', MAC what precedes it, compare in constant time (`verify_slice`).
#[wasm_bindgen]
pub fn floor_hs256_ok(authorization: &str) -> bool {
    let Some(token) = authorization.strip_prefix("Bearer ") else {
        return false;
    };
    let Some((signed, signature)) = token.rsplit_once('.') else {
        return false;
    };
    let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    KEY.with(|k| {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&k.borrow()) else {
            return false; // unreachable: HMAC takes a key of any length
        };
        mac.update(signed.as_bytes());
        mac.verify_slice(&signature).is_ok()
    })
}

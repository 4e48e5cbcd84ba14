//! Drives the core's JWKS cache state machine (`jwt::jwks`) with real fetches: single flight,
//! background refresh through `waitUntil`, one rate-limited refetch on an unknown `kid`, the
//! last good keys kept through outages, 503 `jwks_unavailable` when there are none.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use worker::Context;

use crate::config::EdgeConfig;
use crate::jwt::jwks::{JwksCache, JwksPolicy};
use crate::jwt::KeySet;
use crate::pipeline::Denial;
use crate::reason::Reason;
use crate::time::UnixMillis;

thread_local! {
    static CACHES: RefCell<HashMap<String, JwksCache>> = RefCell::new(HashMap::new());
}

fn policy(cfg: &EdgeConfig) -> JwksPolicy {
    JwksPolicy {
        min_ttl_secs: cfg.jwks.min_ttl_secs,
        max_ttl_secs: cfg.jwks.max_ttl_secs,
        max_staleness_secs: cfg.jwks.max_staleness_secs,
        unknown_kid_interval_secs: cfg.jwks.refetch_interval_secs,
        ..JwksPolicy::default()
    }
}

fn with_cache<T>(cfg: &EdgeConfig, issuer: &str, f: impl FnOnce(&mut JwksCache) -> T) -> T {
    CACHES.with(|c| {
        let mut c = c.borrow_mut();
        let cache = c
            .entry(issuer.to_owned())
            .or_insert_with(|| JwksCache::new(policy(cfg)));
        f(cache)
    })
}

fn now() -> UnixMillis {
    UnixMillis(js_sys::Date::now() as u64)
}

/// Fetches the JWKS and reports the outcome to the issuer's cache (never holds a borrow across the await).
async fn fetch_and_report(issuer: String, url: String, policy: JwksPolicy) {
    let result = fetch(&url).await;
    CACHES.with(|c| {
        let mut c = c.borrow_mut();
        let cache = c.entry(issuer.clone()).or_insert_with(|| JwksCache::new(policy));
        let at = now();
        match result {
            Ok((body, cache_control)) => match cache.on_fetch_ok(at, &body, cache_control.as_deref()) {
                Ok(n) => worker::console_log!("{}", serde_json::json!({"event": "jwks_fetched", "issuer": issuer, "keys": n})),
                Err(e) => worker::console_error!("{}", serde_json::json!({"event": "jwks_invalid", "issuer": issuer, "detail": e.to_string()})),
            },
            Err(detail) => {
                cache.on_fetch_err(at);
                worker::console_error!("{}", serde_json::json!({"event": "jwks_fetch_failed", "issuer": issuer, "url": url, "detail": detail}));
            }
        }
    });
}

async fn fetch(url: &str) -> Result<(String, Option<String>), String> {
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let init = web_sys::RequestInit::new();
    init.set_signal(Some(&web_sys::AbortSignal::timeout_with_u32(5_000)));
    let resp: web_sys::Response = JsFuture::from(global.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|e| format!("fetch failed: {e:?}"))?
        .unchecked_into();
    if !resp.ok() {
        return Err(format!("HTTP {}", resp.status()));
    }
    let cache_control = resp.headers().get("cache-control").ok().flatten();
    let text = JsFuture::from(resp.text().map_err(|e| format!("{e:?}"))?)
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok((text.as_string().unwrap_or_default(), cache_control))
}

fn unavailable(cfg: &EdgeConfig, issuer: &str, at: UnixMillis) -> Denial {
    let retry = with_cache(cfg, issuer, |c| match c.usable_keys(at) {
        Err(crate::jwt::jwks::JwksError::Unavailable { retry_after_secs }) => retry_after_secs,
        _ => 1,
    });
    Denial {
        reason: Reason::JwksUnavailable,
        retry_after_secs: Some(retry.max(1)),
    }
}

/// The issuer's usable keys now. Starts a background refresh when they are due for one.
pub(crate) async fn keys(
    cfg: &EdgeConfig,
    issuer: &str,
    url: &str,
    at: UnixMillis,
    ctx: &Context,
) -> Result<Arc<KeySet>, Denial> {
    let (usable, ticket) = with_cache(cfg, issuer, |c| {
        (c.usable_keys(at).ok().cloned(), c.begin_fetch(at))
    });
    match (usable, ticket) {
        (Some(keys), ticket) => {
            if ticket.is_some() {
                ctx.wait_until(fetch_and_report(
                    issuer.to_owned(),
                    url.to_owned(),
                    policy(cfg),
                ));
            }
            Ok(keys)
        }
        (None, Some(_ticket)) => {
            fetch_and_report(issuer.to_owned(), url.to_owned(), policy(cfg)).await;
            let at = now();
            with_cache(cfg, issuer, |c| c.usable_keys(at).ok().cloned())
                .ok_or_else(|| unavailable(cfg, issuer, at))
        }
        (None, None) => Err(unavailable(cfg, issuer, at)),
    }
}

/// A token named a `kid` we do not have: refetch once (single flight, at most once per interval).
/// `Ok(None)` means no refetch is allowed now: the token stays unknown.
pub(crate) async fn refetch_for_unknown_kid(
    cfg: &EdgeConfig,
    issuer: &str,
    url: &str,
    at: UnixMillis,
) -> Result<Option<Arc<KeySet>>, Denial> {
    if with_cache(cfg, issuer, |c| c.begin_unknown_kid_fetch(at)).is_none() {
        return Ok(None);
    }
    fetch_and_report(issuer.to_owned(), url.to_owned(), policy(cfg)).await;
    let at = now();
    with_cache(cfg, issuer, |c| c.usable_keys(at).ok().cloned())
        .map(Some)
        .ok_or_else(|| unavailable(cfg, issuer, at))
}

/// The issuer's usable keys without waiting for I/O, as [`keys`] would return them: when a
/// refresh is due it is claimed here and `refresh` is set, and the caller must run
/// [`refresh_in_background`]. `None`: no usable keys, only the full path (which fetches inline
/// or answers `jwks_unavailable`) can decide.
pub(crate) fn keys_now(
    cfg: &EdgeConfig,
    issuer: &str,
    at: UnixMillis,
    refresh: &mut bool,
) -> Option<Arc<KeySet>> {
    with_cache(cfg, issuer, |c| {
        let keys = c.usable_keys(at).ok().cloned()?;
        if c.begin_fetch(at).is_some() {
            *refresh = true;
        }
        Some(keys)
    })
}

/// A refresh claimed by [`keys_now`].
pub(crate) async fn refresh_in_background(cfg: &EdgeConfig, issuer: &str, url: &str) {
    fetch_and_report(issuer.to_owned(), url.to_owned(), policy(cfg)).await
}

/// The issuer's keys if usable now, without claiming anything (for a request already past
/// [`keys_now`], e.g. back from WebCrypto).
pub(crate) fn ready_keys(cfg: &EdgeConfig, issuer: &str, at: UnixMillis) -> Option<Arc<KeySet>> {
    with_cache(cfg, issuer, |c| c.usable_keys(at).ok().cloned())
}

/// Would a token naming an unknown `kid` trigger a refetch now?
pub(crate) fn unknown_kid_fetch_allowed(cfg: &EdgeConfig, issuer: &str, at: UnixMillis) -> bool {
    with_cache(cfg, issuer, |c| c.unknown_kid_fetch_allowed(at))
}

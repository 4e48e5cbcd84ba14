//! Fetching issuers' JWKS over HTTP (placeholder until the JWKS cache state machine lands).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use worker::Context;

use crate::config::EdgeConfig;
use crate::jwt::KeySet;
use crate::reason::Reason;
use crate::time::UnixMillis;

thread_local! {
    static SETS: RefCell<HashMap<String, (Rc<KeySet>, UnixMillis)>> = RefCell::new(HashMap::new());
}

async fn fetch_set(url: &str) -> Result<KeySet, Reason> {
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let resp: web_sys::Response = JsFuture::from(global.fetch_with_str(url))
        .await
        .map_err(|_| Reason::JwksUnavailable)?
        .unchecked_into();
    if !resp.ok() {
        return Err(Reason::JwksUnavailable);
    }
    let text = JsFuture::from(resp.text().map_err(|_| Reason::JwksUnavailable)?)
        .await
        .map_err(|_| Reason::JwksUnavailable)?;
    KeySet::from_jwks_json(&text.as_string().unwrap_or_default())
        .map_err(|_| Reason::JwksUnavailable)
}

pub(crate) async fn keys(
    cfg: &EdgeConfig,
    issuer: &str,
    url: &str,
    now: UnixMillis,
    _ctx: &Context,
) -> Result<Rc<KeySet>, Reason> {
    let ttl = cfg.jwks.min_ttl_secs * 1000;
    if let Some((k, at)) = SETS.with(|s| s.borrow().get(issuer).cloned()) {
        if now.millis_since(at) < ttl {
            return Ok(k);
        }
    }
    refetch_for_unknown_kid(cfg, issuer, url, now).await
}

pub(crate) async fn refetch_for_unknown_kid(
    _cfg: &EdgeConfig,
    issuer: &str,
    url: &str,
    now: UnixMillis,
) -> Result<Rc<KeySet>, Reason> {
    let set = Rc::new(fetch_set(url).await?);
    SETS.with(|s| s.borrow_mut().insert(issuer.to_owned(), (set.clone(), now)));
    Ok(set)
}

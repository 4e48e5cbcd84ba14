//! The async driver's HTTP GETs (the JWKS, the revocation feed): a timeout, the status checked,
//! the body as text or bytes. Thin calls into the runtime's `fetch`.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// What a JS exception says, for a log line: its message (an `Error`), or the value if it is a
/// string. Not `{:?}`: `JsValue`'s Debug formats numbers through core's float formatting, which
/// would be the only float formatting left in the Worker (~11 KB of wasm; docs/PERFORMANCE.md).
pub(crate) fn js_error(e: &JsValue) -> String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        let name = String::from(err.name());
        let message = String::from(err.message());
        return format!("{name}: {message}");
    }
    e.as_string()
        .unwrap_or_else(|| "a thrown value that is not an Error".to_owned())
}

async fn get(
    url: &str,
    header: Option<(&str, &str)>,
    timeout_ms: u32,
) -> Result<web_sys::Response, String> {
    let init = web_sys::RequestInit::new();
    if let Some((name, value)) = header {
        let headers = web_sys::Headers::new().map_err(|e| js_error(&e))?;
        headers.set(name, value).map_err(|e| js_error(&e))?;
        init.set_headers_headers(&headers);
    }
    init.set_signal(Some(&web_sys::AbortSignal::timeout_with_u32(timeout_ms)));
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let resp: web_sys::Response = JsFuture::from(global.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|e| format!("fetch failed: {}", js_error(&e)))?
        .unchecked_into();
    if !resp.ok() {
        return Err(format!("HTTP {}", resp.status()));
    }
    Ok(resp)
}

/// A JWKS: its body and `Cache-Control`.
pub(crate) async fn jwks(url: &str) -> Result<(String, Option<String>), String> {
    let resp = get(url, None, 5_000).await?;
    let cache_control = resp.headers().get("cache-control").ok().flatten();
    let text = JsFuture::from(resp.text().map_err(|e| js_error(&e))?)
        .await
        .map_err(|e| js_error(&e))?;
    Ok((text.as_string().unwrap_or_default(), cache_control))
}

/// One page of the revocation feed, signed with the envelope header.
pub(crate) async fn feed(url: &str, signature: &str) -> Result<Vec<u8>, String> {
    let resp = get(
        url,
        Some((crate::envelope::SIGNATURE_HEADER, signature)),
        3_000,
    )
    .await?;
    let buf = JsFuture::from(resp.array_buffer().map_err(|e| js_error(&e))?)
        .await
        .map_err(|e| js_error(&e))?;
    Ok(js_sys::Uint8Array::new(&buf).to_vec())
}

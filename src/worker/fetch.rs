//! The async driver's HTTP GETs (the JWKS, the revocation feed's background polls): a timeout,
//! the body as text or bytes. Thin calls into the runtime's `fetch`. (A fresh isolate's first
//! sync is fetched by `entry.js`, a `fetch` plan, with the same timeout and header.)

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::pipeline::{FeedRequest, Fetched};

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

/// The response, whatever its status (redirects not followed); `Err`: no response (what the
/// runtime threw).
async fn send(
    url: &str,
    header: Option<(&str, &str)>,
    timeout_ms: u32,
) -> Result<web_sys::Response, JsValue> {
    let init = web_sys::RequestInit::new();
    if let Some((name, value)) = header {
        let headers = web_sys::Headers::new()?;
        headers.set(name, value)?;
        init.set_headers_headers(&headers);
    }
    init.set_signal(Some(&web_sys::AbortSignal::timeout_with_u32(timeout_ms)));
    // A 3xx is the answer, not a pointer to follow: the feed's request carries the envelope
    // signature, and a key set is trusted for the URL configured, not wherever it redirects.
    init.set_redirect(web_sys::RequestRedirect::Manual);
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    Ok(JsFuture::from(global.fetch_with_str_and_init(url, &init))
        .await?
        .unchecked_into())
}

/// A JWKS: its body and `Cache-Control`.
pub(crate) async fn jwks(url: &str) -> Result<(String, Option<String>), String> {
    let resp = send(url, None, 5_000)
        .await
        .map_err(|e| format!("fetch failed: {}", js_error(&e)))?;
    if !resp.ok() {
        return Err(crate::pipeline::unusable_status(resp.status()));
    }
    let cache_control = resp.headers().get("cache-control").ok().flatten();
    let text = JsFuture::from(resp.text().map_err(|e| js_error(&e))?)
        .await
        .map_err(|e| js_error(&e))?;
    Ok((text.as_string().unwrap_or_default(), cache_control))
}

/// One page of the revocation feed, signed with the envelope header: what came back, for the
/// core to judge (`Fetched::page`), as `entry.js` reports a `fetch` plan's GET.
pub(crate) async fn feed(req: &FeedRequest) -> Fetched {
    let header = Some((crate::envelope::SIGNATURE_HEADER, req.signature.as_str()));
    let read = async {
        let resp = send(&req.url, header, req.timeout_ms).await?;
        let buf = JsFuture::from(resp.array_buffer()?).await?;
        Ok::<_, JsValue>((resp.status(), js_sys::Uint8Array::new(&buf).to_vec()))
    };
    match read.await {
        Ok((status, body)) => Fetched {
            status,
            body,
            error: String::new(),
        },
        Err(e) => Fetched {
            status: 0,
            body: Vec::new(),
            error: js_error(&e),
        },
    }
}

//! Forwarding to the origin: copy the client's headers minus the identity namespace and
//! hop-by-hop headers, add the edge's identity headers, sign them, stream the body through.

use js_sys::Array;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Headers, Request, RequestInit, RequestRedirect, Response};

use crate::config::EdgeConfig;
use crate::envelope;
use crate::identity::Identity;
use crate::pipeline::forwardable_header;
use crate::time::UnixMillis;

pub(crate) struct Forward<'a> {
    pub cfg: &'a EdgeConfig,
    pub req: &'a Request,
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub identity: &'a Identity,
    pub request_id: &'a str,
    pub client_ip: Option<&'a str>,
    pub proto: &'a str,
    pub now: UnixMillis,
    /// A body already read (webhooks); otherwise the client's body is streamed through.
    pub body: Option<&'a [u8]>,
}

/// An origin failure, told apart for the circuit breaker and the log.
#[derive(Debug)]
pub(crate) enum OriginError {
    /// Could not even build the request (a bug or a runtime refusal).
    Build(#[allow(dead_code)] JsValue),
    /// Connection error or timeout.
    Network(#[allow(dead_code)] JsValue),
}

impl Forward<'_> {
    fn headers(&self) -> Result<Headers, JsValue> {
        let out = Headers::new()?;
        let entries =
            js_sys::try_iter(&self.req.headers().entries())?.ok_or("headers not iterable")?;
        for entry in entries {
            let pair: Array = entry?.unchecked_into();
            let name = pair.get(0).as_string().unwrap_or_default();
            if forwardable_header(&name) {
                out.append(&name, &pair.get(1).as_string().unwrap_or_default())?;
            }
        }
        let identity = self.identity.envelope_headers();
        for (k, v) in &identity {
            out.set(k, v)?;
        }
        let sig = envelope::sign(
            &self.cfg.envelope_key,
            self.now,
            self.method,
            self.path_and_query,
            identity.iter().map(|(k, v)| (*k, v.as_str())),
        )
        .map_err(|e| JsValue::from_str(&e.to_string()))?;
        out.set(envelope::SIGNATURE_HEADER, &sig)?;
        out.set(envelope::REQUEST_ID, self.request_id)?;
        if let Some(ip) = self.client_ip {
            out.set("x-forwarded-for", ip)?;
        }
        out.set("x-forwarded-proto", self.proto)?;
        Ok(out)
    }

    pub(crate) async fn send(&self) -> Result<Response, OriginError> {
        let init = RequestInit::new();
        init.set_method(self.method);
        init.set_headers_headers(&self.headers().map_err(OriginError::Build)?);
        init.set_redirect(RequestRedirect::Manual);
        if let Some(bytes) = self.body {
            init.set_body(&js_sys::Uint8Array::from(bytes).into());
        } else if !matches!(self.method, "GET" | "HEAD") {
            if let Some(body) = self.req.body() {
                init.set_body(&body);
            }
        }
        let timeout = self.cfg.origin_timeout_ms.min(u32::MAX as u64) as u32;
        init.set_signal(Some(&AbortSignal::timeout_with_u32(timeout)));
        let url = format!("{}{}", self.cfg.origin_url, self.path_and_query);
        let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
        let promise = global.fetch_with_str_and_init(&url, &init);
        let resp = JsFuture::from(promise)
            .await
            .map_err(OriginError::Network)?;
        resp.dyn_into().map_err(OriginError::Build)
    }
}

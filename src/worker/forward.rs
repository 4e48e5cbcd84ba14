//! Forwarding to the origin: the client's headers minus the identity namespace and hop-by-hop
//! headers (the core's `forwardable_header` decides which), plus the edge's identity headers and
//! their signature; the body streamed through. The copying happens in `glue.js` in one call.

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, Response};

use crate::config::EdgeConfig;
use crate::envelope;
use crate::identity::Identity;
use crate::pipeline::forwardable_header;
use crate::time::UnixMillis;

#[wasm_bindgen(module = "/src/worker/glue.js")]
extern "C" {
    #[wasm_bindgen(js_name = headerNames)]
    fn header_names(headers: &web_sys::Headers) -> String;
    #[wasm_bindgen(js_name = forward)]
    fn js_forward(
        req: &Request,
        url: &str,
        drop: &str,
        set_names: &str,
        set_values: &str,
        body: JsValue,
        timeout_ms: u32,
    ) -> js_sys::Promise;
    #[wasm_bindgen(js_name = decorate)]
    fn js_decorate(resp: &Response, set_names: &str, set_values: &str) -> Response;
}

/// Headers given as newline-joined names and values (header values never contain a newline).
#[derive(Default)]
pub(crate) struct HeaderSet {
    names: String,
    values: String,
}

impl HeaderSet {
    pub(crate) fn push(&mut self, name: &str, value: &str) {
        if !self.names.is_empty() {
            self.names.push('\n');
            self.values.push('\n');
        }
        self.names.push_str(name);
        // A newline cannot be sent in a header; it would also break the joined form.
        self.values.push_str(&value.replace(['\r', '\n'], " "));
    }
}

/// Adds headers to a response (one crossing).
pub(crate) fn decorate(resp: Response, extra: &[(&'static str, String)]) -> Response {
    if extra.is_empty() {
        return resp;
    }
    let mut set = HeaderSet::default();
    for (k, v) in extra {
        set.push(k, v);
    }
    js_decorate(&resp, &set.names, &set.values)
}

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
    Build(#[allow(dead_code)] String),
    /// Connection error or timeout.
    Network(#[allow(dead_code)] JsValue),
}

impl Forward<'_> {
    pub(crate) async fn send(&self) -> Result<Response, OriginError> {
        let drop: String = header_names(&self.req.headers())
            .split('\n')
            .filter(|n| !n.is_empty() && !forwardable_header(n))
            .collect::<Vec<_>>()
            .join("\n");
        let mut signed: Vec<(&str, String)> = self.identity.envelope_headers();
        signed.push((envelope::REQUEST_ID, self.request_id.to_owned()));
        if let Some(ip) = self.client_ip {
            signed.push((envelope::FORWARDED_FOR, ip.to_owned()));
        }
        signed.push((envelope::FORWARDED_PROTO, self.proto.to_owned()));
        let sig = envelope::sign(
            &self.cfg.envelope_key,
            self.now,
            self.method,
            self.path_and_query,
            signed.iter().map(|(k, v)| (*k, v.as_str())),
        )
        .map_err(|e| OriginError::Build(e.to_string()))?;
        let mut set = HeaderSet::default();
        for (k, v) in &signed {
            set.push(k, v);
        }
        set.push(envelope::SIGNATURE_HEADER, &sig);
        let body = self
            .body
            .map_or(JsValue::UNDEFINED, |b| js_sys::Uint8Array::from(b).into());
        let timeout = self.cfg.origin_timeout_ms.min(u32::MAX as u64) as u32;
        let url = format!("{}{}", self.cfg.origin_url, self.path_and_query);
        let promise = js_forward(
            self.req,
            &url,
            &drop,
            &set.names,
            &set.values,
            body,
            timeout,
        );
        let resp = JsFuture::from(promise)
            .await
            .map_err(OriginError::Network)?;
        resp.dyn_into()
            .map_err(|_| OriginError::Build("fetch did not return a Response".into()))
    }
}

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
    pub(crate) names: String,
    pub(crate) values: String,
}

impl HeaderSet {
    pub(crate) fn push(&mut self, name: &str, value: &str) {
        if !self.names.is_empty() {
            self.names.push('\n');
            self.values.push('\n');
        }
        self.names.push_str(name);
        // A newline cannot be sent in a header; it would also break the joined form.
        if value.bytes().any(|b| b == b'\r' || b == b'\n') {
            self.values.push_str(&value.replace(['\r', '\n'], " "));
        } else {
            self.values.push_str(value);
        }
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

/// What to send to the origin: the URL, the client headers to drop, the headers to set
/// (identity, forwarding context and their signature). Shared by both request paths.
pub(crate) struct Outgoing {
    pub url: String,
    /// Newline-joined names of client headers that must not reach the origin.
    pub drop: String,
    pub set: HeaderSet,
    pub timeout_ms: u32,
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn outgoing(
    cfg: &EdgeConfig,
    header_names: &str,
    method: &str,
    path_and_query: &str,
    identity: &Identity,
    request_id: &str,
    client_ip: Option<&str>,
    proto: &str,
    now: UnixMillis,
) -> Result<Outgoing, String> {
    let mut drop = String::new();
    for n in header_names.split('\n') {
        if !n.is_empty() && !forwardable_header(n) {
            if !drop.is_empty() {
                drop.push('\n');
            }
            drop.push_str(n);
        }
    }
    // Sorted by name, as the envelope signs them: x-auth-*, x-forwarded-*, x-request-id.
    let mut signed = identity.envelope_headers();
    if let Some(ip) = client_ip {
        signed.push((envelope::FORWARDED_FOR, ip.into()));
    }
    signed.push((envelope::FORWARDED_PROTO, proto.into()));
    signed.push((envelope::REQUEST_ID, request_id.into()));
    let sig = envelope::sign(
        &cfg.envelope_key,
        now,
        method,
        path_and_query,
        signed.iter().map(|(k, v)| (*k, v.as_ref())),
    )
    .map_err(|e| e.to_string())?;
    let mut set = HeaderSet::default();
    for (k, v) in &signed {
        set.push(k, v);
    }
    set.push(envelope::SIGNATURE_HEADER, &sig);
    Ok(Outgoing {
        url: format!("{}{}", cfg.origin_url, path_and_query),
        drop,
        set,
        timeout_ms: cfg.origin_timeout_ms.min(u32::MAX as u64) as u32,
    })
}

/// `https` when the client reached us over TLS.
pub(crate) fn proto_of(url: &str) -> &'static str {
    if url.starts_with("https:") {
        "https"
    } else {
        "http"
    }
}

impl Forward<'_> {
    pub(crate) async fn send(&self) -> Result<Response, OriginError> {
        let out = outgoing(
            self.cfg,
            &header_names(&self.req.headers()),
            self.method,
            self.path_and_query,
            self.identity,
            self.request_id,
            self.client_ip,
            self.proto,
            self.now,
        )
        .map_err(OriginError::Build)?;
        let body = self
            .body
            .map_or(JsValue::UNDEFINED, |b| js_sys::Uint8Array::from(b).into());
        let promise = js_forward(
            self.req,
            &out.url,
            &out.drop,
            &out.set.names,
            &out.set.values,
            body,
            out.timeout_ms,
        );
        let resp = JsFuture::from(promise)
            .await
            .map_err(OriginError::Network)?;
        resp.dyn_into()
            .map_err(|_| OriginError::Build("fetch did not return a Response".into()))
    }
}

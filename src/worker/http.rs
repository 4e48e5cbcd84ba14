//! Thin conversions between the runtime's Request/Response and the core's plain data.

use wasm_bindgen::JsValue;
use web_sys::{Headers, Response, ResponseInit};

use crate::respond::ResponseSpec;

pub(crate) fn header(h: &Headers, name: &str) -> Option<String> {
    h.get(name).ok().flatten()
}

pub(crate) fn to_response(spec: &ResponseSpec) -> Result<Response, JsValue> {
    let headers = Headers::new()?;
    for (k, v) in &spec.headers {
        headers.append(k, v)?;
    }
    let init = ResponseInit::new();
    init.set_status(spec.status);
    init.set_headers(&headers);
    Response::new_with_opt_str_and_init(Some(&spec.body), &init)
}

/// Splits a request URL into `(path, path_and_query)` without a URL parser: the runtime hands
/// us a serialized WHATWG URL (`scheme://host[:port]/path?query`).
pub(crate) fn path_and_query(url: &str) -> (&str, &str) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let start = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |i| after_scheme + i);
    let pq = &url[start..];
    let pq = pq.split('#').next().unwrap_or(pq);
    let path = pq.split('?').next().unwrap_or(pq);
    if pq.is_empty() {
        ("/", "/")
    } else {
        (path, pq)
    }
}

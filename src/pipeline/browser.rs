//! What the edge does for browsers before it looks at any token:
//!
//! - **Cross-site request refusal (CSRF).** A request with an unsafe method that carries no
//!   bearer token (so a browser may have attached the session cookie by itself) is refused with
//!   403 `csrf_origin_mismatch` when the browser says it is cross-site: `Sec-Fetch-Site` other
//!   than `same-origin`/`none`, or, from browsers that do not send it, an `Origin` that is not
//!   the request's own. Origins in `CORS_ORIGINS` are trusted. Requests without either header
//!   (servers, webhook senders, old clients) and bearer-token requests are unaffected: a
//!   browser never attaches an `Authorization` header on its own.
//! - **CORS.** `CORS_ORIGINS` (exact origins) may call the API from a browser with credentials:
//!   their preflights are answered here (204, never forwarded), their requests' responses carry
//!   `Access-Control-Allow-Origin` with credentials. A preflight from any other origin gets 403
//!   `cors_origin_refused`. With the list empty (the default) the edge answers no preflight.

use crate::config::BrowserConfig;
use crate::reason::Reason;
use crate::request_fields::Header;
use crate::respond::ResponseSpec;

use super::Incoming;

/// Methods a preflight may ask for, and request headers it may name.
const ALLOW_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE";
const ALLOW_HEADERS: &str = "authorization, content-type, idempotency-key, x-request-id";
/// Response headers a cross-origin page may read.
const EXPOSE_HEADERS: &str =
    "ratelimit, ratelimit-policy, retry-after, www-authenticate, x-request-id";

fn is_safe(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// `scheme://host[:port]` of an absolute URL.
fn origin_of(url: &str) -> &str {
    let after_scheme = crate::text::find(url, "://").map_or(0, |i| i + 3);
    let end = url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after_scheme + i);
    &url[..end]
}

fn trusted<'c>(cfg: &'c BrowserConfig, origin: Option<&str>) -> Option<&'c str> {
    let origin = origin?;
    cfg.cors_origins
        .iter()
        .find(|o| o.eq_ignore_ascii_case(origin))
        .map(String::as_str)
}

fn has_header(req: &Incoming, name: &str) -> bool {
    req.header_names().split('\n').any(|n| n == name)
}

/// Refuses a cross-site unsafe request a browser may have sent with the cookie by itself.
pub fn cross_site_check(cfg: &BrowserConfig, req: &Incoming) -> Result<(), Reason> {
    if !cfg.csrf || is_safe(req.method()) || req.header(Header::Authorization).is_some() {
        return Ok(());
    }
    let origin = req.header(Header::Origin);
    let cross_site = match req.header(Header::SecFetchSite) {
        Some(site) => !matches!(site, "same-origin" | "none"),
        None => origin.is_some_and(|o| !o.eq_ignore_ascii_case(origin_of(req.url()))),
    };
    if cross_site && trusted(cfg, origin).is_none() {
        return Err(Reason::CsrfOriginMismatch);
    }
    Ok(())
}

/// A CORS preflight, answered here: `Some(Ok(204))` for a listed origin, `Some(Err)` for any
/// other; `None` when this is no preflight or CORS is off (the request goes on as usual).
pub fn preflight(cfg: &BrowserConfig, req: &Incoming) -> Option<Result<ResponseSpec, Reason>> {
    if cfg.cors_origins.is_empty()
        || req.method() != "OPTIONS"
        || !has_header(req, "access-control-request-method")
    {
        return None;
    }
    let origin = req.header(Header::Origin)?;
    let Some(allowed) = trusted(cfg, Some(origin)) else {
        return Some(Err(Reason::CorsOriginRefused));
    };
    Some(Ok(ResponseSpec {
        status: 204,
        headers: vec![
            ("access-control-allow-origin", allowed.to_owned()),
            ("access-control-allow-credentials", "true".into()),
            ("access-control-allow-methods", ALLOW_METHODS.into()),
            ("access-control-allow-headers", ALLOW_HEADERS.into()),
            ("access-control-max-age", cfg.cors_max_age_secs.to_string()),
            ("vary", "Origin".into()),
        ],
        body: String::new(),
    }))
}

/// The CORS headers of a response to a request from a listed origin (none for any other).
pub fn cors_headers(cfg: &BrowserConfig, req: &Incoming) -> Vec<(&'static str, String)> {
    if cfg.cors_origins.is_empty() {
        return Vec::new();
    }
    match trusted(cfg, req.header(Header::Origin)) {
        Some(o) => vec![
            ("access-control-allow-origin", o.to_owned()),
            ("access-control-allow-credentials", "true".into()),
            ("access-control-expose-headers", EXPOSE_HEADERS.into()),
            ("vary", "Origin".into()),
        ],
        None => Vec::new(),
    }
}

/// Parses `CORS_ORIGINS`: a JSON array of exact origins (`https://app.example.com`, a port if
/// not the default; no path, no wildcard, no `null`).
pub fn parse_origins(text: &str) -> Result<Vec<String>, String> {
    let doc = crate::json::parse(text.as_bytes()).map_err(|e| format!("is not valid JSON: {e}"))?;
    let items = doc
        .items()
        .ok_or("must be a JSON array of origins like [\"https://app.example.com\"]")?;
    let mut out = Vec::new();
    for item in items {
        let o = item
            .as_str()
            .ok_or("every entry must be a string")?
            .into_owned();
        let Some((scheme, host)) = o.split_once("://") else {
            return Err(format!("{o:?} is not an origin (scheme://host[:port])"));
        };
        if !matches!(scheme, "https" | "http")
            || host.is_empty()
            || host.contains(['/', '?', '#', '*', ' '])
        {
            return Err(format!(
                "{o:?} is not an exact origin: scheme://host[:port], no path, no wildcard"
            ));
        }
        out.push(o);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request_fields::RequestFields;

    fn cfg(origins: &[&str]) -> BrowserConfig {
        BrowserConfig {
            csrf: true,
            cors_origins: origins.iter().map(|s| s.to_string()).collect(),
            cors_max_age_secs: 600,
        }
    }

    /// A request as glue.js's `planFields` sends it; `headers` by name.
    fn req(method: &str, url: &str, headers: &[(&str, &str)]) -> Incoming {
        let get = |n: &str| headers.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
        let names: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
        let mut raw = format!("{method}\0{url}\0{}", names.join("\n"));
        let mut absent = 0;
        for (i, h) in crate::request_fields::PLAN_HEADERS.iter().enumerate() {
            raw.push('\0');
            match get(h) {
                Some(v) => raw.push_str(v),
                None => absent |= 1 << i,
            }
        }
        Incoming::new(RequestFields::parse(raw, absent).unwrap(), || "rid".into())
    }

    const URL: &str = "https://edge.example/api/password";

    #[test]
    fn a_cross_site_post_without_a_bearer_token_is_refused() {
        let c = cfg(&[]);
        let cookie = ("cookie", "access_token=t");
        for headers in [
            vec![cookie, ("sec-fetch-site", "cross-site")],
            vec![cookie, ("sec-fetch-site", "same-site")],
            vec![cookie, ("origin", "https://evil.example")],
            vec![cookie, ("origin", "null")],
            vec![("origin", "https://evil.example")], // login CSRF: no cookie yet
        ] {
            assert_eq!(
                cross_site_check(&c, &req("POST", URL, &headers)),
                Err(Reason::CsrfOriginMismatch),
                "{headers:?}"
            );
        }
    }

    #[test]
    fn same_origin_safe_methods_bearer_tokens_and_servers_pass() {
        let c = cfg(&[]);
        let cookie = ("cookie", "access_token=t");
        let pass = [
            ("POST", vec![cookie, ("sec-fetch-site", "same-origin")]),
            ("POST", vec![cookie, ("sec-fetch-site", "none")]),
            ("POST", vec![cookie, ("origin", "https://edge.example")]),
            ("DELETE", vec![cookie, ("origin", "HTTPS://EDGE.EXAMPLE")]),
            ("POST", vec![cookie]), // no Origin, no Sec-Fetch-Site: not a browser
            ("GET", vec![cookie, ("sec-fetch-site", "cross-site")]),
            (
                "POST",
                vec![
                    ("authorization", "Bearer t"),
                    ("sec-fetch-site", "cross-site"),
                ],
            ),
        ];
        for (m, headers) in pass {
            assert_eq!(
                cross_site_check(&c, &req(m, URL, &headers)),
                Ok(()),
                "{m} {headers:?}"
            );
        }
        // A listed origin is trusted; the setting can be turned off.
        let listed = cfg(&["https://app.example"]);
        let h = [
            ("origin", "https://app.example"),
            ("sec-fetch-site", "cross-site"),
        ];
        assert_eq!(cross_site_check(&listed, &req("POST", URL, &h)), Ok(()));
        let off = BrowserConfig {
            csrf: false,
            ..cfg(&[])
        };
        let h = [("origin", "https://evil.example")];
        assert_eq!(cross_site_check(&off, &req("POST", URL, &h)), Ok(()));
    }

    #[test]
    fn preflights_are_answered_for_listed_origins_only() {
        let c = cfg(&["https://app.example"]);
        let ask = |origin: &str| {
            req(
                "OPTIONS",
                URL,
                &[
                    ("origin", origin),
                    ("access-control-request-method", "POST"),
                ],
            )
        };
        let spec = preflight(&c, &ask("https://app.example")).unwrap().unwrap();
        assert_eq!(spec.status, 204);
        let h = |n: &str| {
            spec.headers
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            h("access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(h("access-control-allow-credentials"), Some("true"));
        assert_eq!(h("vary"), Some("Origin"));
        assert_eq!(
            preflight(&c, &ask("https://evil.example"))
                .unwrap()
                .unwrap_err(),
            Reason::CorsOriginRefused
        );
        // Not a preflight, or CORS off: not handled here.
        assert!(preflight(
            &c,
            &req("OPTIONS", URL, &[("origin", "https://app.example")])
        )
        .is_none());
        assert!(preflight(&cfg(&[]), &ask("https://app.example")).is_none());
    }

    #[test]
    fn responses_to_listed_origins_carry_cors_headers_and_others_none() {
        let c = cfg(&["https://app.example"]);
        let h = cors_headers(&c, &req("GET", URL, &[("origin", "https://app.example")]));
        assert!(h.contains(&("access-control-allow-origin", "https://app.example".into())));
        assert!(h.iter().any(|(k, _)| *k == "access-control-expose-headers"));
        assert!(
            cors_headers(&c, &req("GET", URL, &[("origin", "https://evil.example")])).is_empty()
        );
        assert!(cors_headers(&c, &req("GET", URL, &[])).is_empty());
    }

    #[test]
    fn cors_origins_are_exact_origins() {
        assert_eq!(
            parse_origins(r#"["https://app.example","http://localhost:8080"]"#).unwrap(),
            ["https://app.example", "http://localhost:8080"]
        );
        for bad in [
            r#"["https://app.example/"]"#,
            r#"["https://*.example"]"#,
            r#"["app.example"]"#,
            r#"["null"]"#,
            r#"[1]"#,
            r#"{"a":1}"#,
        ] {
            assert!(parse_origins(bad).is_err(), "{bad}");
        }
    }
}

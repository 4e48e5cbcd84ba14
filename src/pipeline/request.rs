//! What the pipeline reads of a request: the fields the driver hands over ([`Incoming`]), and the
//! pure checks on them — path shape, request id, token extraction, which headers may be forwarded.

use crate::envelope::is_identity_header;
use crate::reason::Reason;
use crate::request_fields::{Header, RequestFields};

/// A request as the decision sees it: the fields the driver sent ([`RequestFields`]) and its
/// request id. Owned: a request waiting for I/O keeps it.
#[derive(Debug)]
pub struct Incoming {
    pub(crate) fields: RequestFields,
    /// The client's `x-request-id` if acceptable, else a fresh one.
    pub(crate) request_id: String,
}

impl Incoming {
    /// `fresh_id` makes a request id when the client's is missing or malformed.
    pub fn new(fields: RequestFields, fresh_id: impl FnOnce() -> String) -> Incoming {
        let request_id = match accept_request_id(fields.header(Header::RequestId)) {
            Some(id) => id.to_owned(),
            None => fresh_id(),
        };
        Incoming { fields, request_id }
    }

    pub fn request_id(&self) -> &str {
        &self.request_id
    }
    pub(crate) fn method(&self) -> &str {
        self.fields.method()
    }
    pub(crate) fn url(&self) -> &str {
        self.fields.url()
    }
    pub(crate) fn header(&self, h: Header) -> Option<&str> {
        self.fields.header(h)
    }
    pub(crate) fn header_names(&self) -> &str {
        self.fields.header_names()
    }
    /// Local runs have no `cf-connecting-ip`: every client then shares one key.
    pub(crate) fn ip(&self) -> &str {
        self.header(Header::ClientIp).unwrap_or("local")
    }
    /// `(path, path_and_query)` of the URL.
    pub(crate) fn path_and_query(&self) -> (&str, &str) {
        path_and_query(self.url())
    }
    /// `https` when the client reached us over TLS.
    pub(crate) fn proto(&self) -> &'static str {
        if self.url().starts_with("https:") {
            "https"
        } else {
            "http"
        }
    }
}

/// Splits a request URL into `(path, path_and_query)` without a URL parser: the runtime hands
/// us a serialized WHATWG URL (`scheme://host[:port]/path?query`).
pub fn path_and_query(url: &str) -> (&str, &str) {
    let after_scheme = crate::text::find(url, "://").map_or(0, |i| i + 3);
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

/// A refusal decided by a stage: the reason, and when an outage may be over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denial {
    pub reason: Reason,
    /// Seconds, for 429/503.
    pub retry_after_secs: Option<u64>,
}

impl From<Reason> for Denial {
    fn from(reason: Reason) -> Self {
        Denial {
            reason,
            retry_after_secs: None,
        }
    }
}

/// Where the presented token came from (browsers use the cookie, API clients the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    Bearer,
    Cookie,
}

/// Finds the bearer token: `Authorization: Bearer <t>` first, else the session cookie.
/// An `Authorization` header with another scheme, or an empty bearer, is malformed, not missing.
pub fn extract_token<'a>(
    authorization: Option<&'a str>,
    cookie_header: Option<&'a str>,
    cookie_name: &str,
) -> Result<(&'a str, TokenSource), Reason> {
    if let Some(auth) = authorization {
        let auth = auth.trim_ascii();
        let (scheme, rest) = auth.split_once(' ').unwrap_or((auth, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Reason::TokenMalformed);
        }
        let token = rest.trim_ascii();
        // A compact JWS is printable ASCII: a byte test, not a Unicode scan (hot: every request).
        if token.is_empty() || !crate::text::all_ascii_graphic(token.as_bytes()) {
            return Err(Reason::TokenMalformed);
        }
        return Ok((token, TokenSource::Bearer));
    }
    if let Some(cookies) = cookie_header {
        for pair in cookies.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=') {
                if k == cookie_name && !v.is_empty() {
                    return Ok((v.trim_matches('"'), TokenSource::Cookie));
                }
            }
        }
    }
    Err(Reason::TokenMissing)
}

/// Refuses paths that the edge and the origin could read differently: empty segments (`//`),
/// dot segments, backslashes and percent-encoded `/`, `\` or `.`. Route rules match the path
/// literally, so one spelling per resource is what keeps a rule from being sidestepped.
pub fn check_path(path: &str) -> Result<(), Reason> {
    let b = path.as_bytes();
    // `%2f`, `%5c` or `%2e` in either case, in one pass and without a lower-cased copy.
    let encoded = |i: usize| {
        b.get(i + 1..i + 3).is_some_and(|h| {
            matches!(
                (h[0], h[1].to_ascii_lowercase()),
                (b'2', b'f') | (b'5', b'c') | (b'2', b'e')
            )
        })
    };
    let bad = !path.starts_with('/')
        || crate::text::contains(path, "//")
        || path.contains('\\')
        || b.iter().enumerate().any(|(i, &c)| c == b'%' && encoded(i))
        // Dot segments: most paths have no dot at all (one memchr instead of a split).
        || (b.contains(&b'.') && path.split('/').any(|seg| seg == "." || seg == ".."));
    if bad {
        Err(Reason::PathInvalid)
    } else {
        Ok(())
    }
}

/// Keeps a client's `X-Request-Id` only if it is well-formed (1–128 of `[A-Za-z0-9._:-]`).
pub fn accept_request_id(given: Option<&str>) -> Option<&str> {
    given.filter(|id| {
        (1..=128).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
    })
}

/// Request headers never forwarded: the identity namespace (set only by the edge), hop-by-hop
/// headers, and the forwarding headers the edge sets itself.
pub fn forwardable_header(name: &str) -> bool {
    if is_identity_header(name) {
        return false;
    }
    const DROP: &[&str] = &[
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "host",
        "x-request-id",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "forwarded",
    ];
    !DROP.iter().any(|d| d.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header_wins_and_cookie_is_the_browser_fallback() {
        assert_eq!(
            extract_token(Some("Bearer abc"), Some("access_token=zzz"), "access_token"),
            Ok(("abc", TokenSource::Bearer))
        );
        assert_eq!(
            extract_token(Some("bearer  abc "), None, "t"),
            Ok(("abc", TokenSource::Bearer))
        );
        assert_eq!(
            extract_token(None, Some("a=1; access_token=xyz; b=2"), "access_token"),
            Ok(("xyz", TokenSource::Cookie))
        );
        assert_eq!(
            extract_token(None, Some("xaccess_token=1"), "access_token"),
            Err(Reason::TokenMissing)
        );
        assert_eq!(
            extract_token(None, None, "access_token"),
            Err(Reason::TokenMissing)
        );
        assert_eq!(
            extract_token(Some("Basic dXNlcg=="), None, "t"),
            Err(Reason::TokenMalformed)
        );
        assert_eq!(
            extract_token(Some("Bearer "), None, "t"),
            Err(Reason::TokenMalformed)
        );
        for bad in [
            "Bearer a b",
            "Bearer a\tb",
            "Bearer a\u{a0}b",
            "Bearer ab\u{2003}",
            "Bearer é",
        ] {
            assert_eq!(
                extract_token(Some(bad), None, "t"),
                Err(Reason::TokenMalformed),
                "{bad:?}"
            );
        }
    }

    /// The check as first written (a lower-cased copy and `str` searches): the one-pass check must
    /// refuse exactly what it refused.
    fn check_path_as_written(path: &str) -> Result<(), Reason> {
        let lower = path.to_ascii_lowercase();
        let bad = !path.starts_with('/')
            || path.contains("//")
            || path.contains('\\')
            || ["%2f", "%5c", "%2e"].iter().any(|e| lower.contains(e))
            || path.split('/').any(|seg| seg == "." || seg == "..");
        if bad {
            Err(Reason::PathInvalid)
        } else {
            Ok(())
        }
    }

    proptest::proptest! {
        #[test]
        fn the_one_pass_path_check_refuses_what_the_first_one_refused(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "/", "%", "%2f", "%2F", "%5c", "%5C", "%2e", "%2E", "%25", ".", "..", "a", "\\\\", "é", "2", "f", "E",
                ]),
                0..10,
            ),
        ) {
            let path: String = parts.concat();
            proptest::prop_assert_eq!(check_path(&path), check_path_as_written(&path), "{:?}", path);
        }
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for p in [
            "//admin/roles",
            "/auth//logout",
            "/admin%2Froles",
            "/admin%2froles",
            "/a/%2e%2e/b",
            "/a/../b",
            "/a/./b",
            "/a\\b",
            "/a%5Cb",
        ] {
            assert_eq!(check_path(p), Err(Reason::PathInvalid), "{p}");
        }
        for p in [
            "/",
            "/api/me",
            "/auth/logout/",
            "/static/app.css",
            "/a%20b",
            "/a.b/c..d",
        ] {
            assert_eq!(check_path(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn urls_split_into_path_and_query() {
        assert_eq!(
            path_and_query("https://e.test/a/b?c=1#f"),
            ("/a/b", "/a/b?c=1")
        );
        assert_eq!(path_and_query("http://e.test"), ("/", "/"));
        assert_eq!(path_and_query("http://e.test:8787/"), ("/", "/"));
    }

    #[test]
    fn request_ids_are_kept_only_when_well_formed() {
        assert_eq!(
            accept_request_id(Some("abc-123_x.y:z")),
            Some("abc-123_x.y:z")
        );
        assert_eq!(accept_request_id(Some("")), None);
        assert_eq!(accept_request_id(Some("a b")), None);
        assert_eq!(accept_request_id(Some(&"a".repeat(129))), None);
    }

    #[test]
    fn spoofable_and_hop_by_hop_headers_are_not_forwarded() {
        for h in [
            "X-Auth-User",
            "x_auth_roles",
            "X-AUTH-SIGNATURE",
            "Connection",
            "X-Forwarded-For",
            "x-request-id",
        ] {
            assert!(!forwardable_header(h), "{h}");
        }
        for h in [
            "accept",
            "content-type",
            "cookie",
            "authorization",
            "idempotency-key",
        ] {
            assert!(forwardable_header(h), "{h}");
        }
    }
}

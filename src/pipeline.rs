//! The request pipeline's pure steps: token extraction, authorization, request ids and the
//! header plan for forwarding. The adapter calls these in order; it decides nothing itself.

use crate::envelope::is_identity_header;
use crate::identity::Identity;
use crate::policy::{Access, Rule};
use crate::reason::Reason;

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
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
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

/// Does the identity satisfy the rule? Only called with an identity built from verified input.
pub fn authorize(rule: &Rule, identity: &Identity) -> Result<(), Reason> {
    match (&rule.access, identity) {
        (Access::Public, _) => Ok(()),
        (Access::Authenticated, Identity::User(_)) => Ok(()),
        (Access::Permissions(p), Identity::User(c)) => {
            if p.is_satisfied_by(c.permissions()) {
                Ok(())
            } else {
                Err(Reason::InsufficientPermissions)
            }
        }
        (Access::Webhook(_), Identity::Webhook(_)) => Ok(()),
        // A route that needs a user cannot be satisfied by anything else, and vice versa.
        (Access::Authenticated | Access::Permissions(_), _) => Err(Reason::TokenMissing),
        (Access::Webhook(_), _) => Err(Reason::WebhookSignatureMissing),
    }
}

/// Refuses paths that the edge and the origin could read differently: empty segments (`//`),
/// dot segments, backslashes and percent-encoded `/`, `\` or `.`. Route rules match the path
/// literally, so one spelling per resource is what keeps a rule from being sidestepped.
pub fn check_path(path: &str) -> Result<(), Reason> {
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
    use crate::policy::RoutePolicy;

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

    #[test]
    fn anonymous_identities_never_satisfy_user_or_webhook_routes() {
        let p = RoutePolicy::from_json(
            r#"[{"id":"pub","path":"/p","access":"public"},{"id":"wh","path":"/w","access":{"webhook":"stripe"}}]"#,
        )
        .unwrap();
        assert_eq!(
            authorize(p.route("GET", "/p"), &Identity::Anonymous),
            Ok(())
        );
        assert_eq!(
            authorize(p.route("GET", "/other"), &Identity::Anonymous),
            Err(Reason::TokenMissing)
        );
        assert_eq!(
            authorize(p.route("POST", "/w"), &Identity::Anonymous),
            Err(Reason::WebhookSignatureMissing)
        );
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

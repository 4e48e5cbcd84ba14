//! The one place where a denial becomes HTTP: status, headers and JSON body per reason.
//!
//! API clients get 401 + `WWW-Authenticate` (RFC 6750), browsers navigating to a page get a
//! redirect to the login page, missing permissions are 403 `insufficient_scope`, limits 429,
//! outages 503, both with `Retry-After`. Every body is `{"error": <reason id>, ...}`.

use crate::json::write::Object;
use crate::reason::{Reason, Side};

/// A response described as data; the adapter turns it into a runtime `Response`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseSpec {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// What the mapping needs to know about the request and the denial.
#[derive(Debug, Clone, Default)]
pub struct DenyContext<'a> {
    /// `GET`/`HEAD` with `Accept` preferring `text/html`: a person in a browser.
    pub browser_navigation: bool,
    /// Path and query of the request, for `next=` on the login redirect.
    pub path_and_query: &'a str,
    pub login_path: &'a str,
    pub request_id: &'a str,
    /// Seconds, for 429 and 503.
    pub retry_after_secs: Option<u64>,
    /// Space-separated permissions the route needs, for `insufficient_scope`.
    pub scope: Option<String>,
    /// The RFC 9470 parameters (`max_age=…`, `acr_values="…"`) for `step_up_required`.
    pub step_up: Option<String>,
    /// Extra headers decided elsewhere (e.g. `RateLimit`), appended as-is.
    pub extra_headers: Vec<(&'static str, String)>,
}

/// Is this a top-level browser navigation (so a redirect to the login page helps)?
pub fn is_browser_navigation(method: &str, accept: Option<&str>) -> bool {
    (method == "GET" || method == "HEAD")
        && accept.is_some_and(|a| crate::text::contains(a, "text/html"))
}

pub fn status_of(reason: Reason) -> u16 {
    use Reason::*;
    match reason {
        TokenMissing
        | TokenMalformed
        | TokenTooLarge
        | TokenAlgorithmNotAllowed
        | TokenHeaderForbidden
        | TokenKeyUnknown
        | TokenSignatureInvalid
        | TokenExpired
        | TokenNotYetValid
        | TokenIssuedInFuture
        | TokenIssuerInvalid
        | TokenAudienceInvalid
        | TokenClaimsInvalid
        | TokenRevoked
        | StepUpRequired => 401,
        WebhookSignatureMissing | WebhookSignatureInvalid | WebhookTimestampOutOfTolerance => 401,
        WebhookHeaderMalformed | PathInvalid => 400,
        WebhookBodyTooLarge | BodyTooLarge => 413,
        InsufficientPermissions | EdgeSignatureInvalid | CsrfOriginMismatch | CorsOriginRefused => {
            403
        }
        RateLimited => 429,
        // A route switched off for want of its secret: unavailable, not broken (senders retry).
        JwksUnavailable
        | OriginUnavailable
        | RevocationsUnavailable
        | RateLimiterUnavailable
        | RateLimitBindingUnavailable
        | WebhookNotConfigured => 503,
        ConfigInvalid | Internal => 500,
    }
}

fn is_token_problem(reason: Reason) -> bool {
    status_of(reason) == 401 && reason.id().starts_with("token_")
}

/// Maps a denial to its response. The only function that decides statuses for denials.
/// Where a browser is sent to sign in: the login page, back to this page afterwards (only a
/// same-origin relative path; anything else returns to `/`), plus `extra` query parameters.
fn login_location(ctx: &DenyContext<'_>, extra: &str) -> String {
    let next = if is_safe_next(ctx.path_and_query) {
        ctx.path_and_query
    } else {
        "/"
    };
    format!("{}?next={}{extra}", ctx.login_path, percent_encode(next))
}

pub fn deny(reason: Reason, ctx: &DenyContext<'_>) -> ResponseSpec {
    let mut status = status_of(reason);
    // JSON the edge wrote: never sniffed as something else, never framed, loads nothing.
    let mut headers: Vec<(&'static str, String)> = vec![
        ("content-type", "application/json".into()),
        ("cache-control", "no-store".into()),
        ("x-content-type-options", "nosniff".into()),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'".into(),
        ),
    ];

    if is_token_problem(reason) {
        if ctx.browser_navigation && !ctx.login_path.is_empty() {
            status = 302;
            headers.push(("location", login_location(ctx, "")));
        } else if reason == Reason::TokenMissing {
            // RFC 6750 §3.1: no error code when the request had no authentication at all.
            headers.push(("www-authenticate", r#"Bearer realm="edge-auth""#.into()));
        } else {
            headers.push((
                "www-authenticate",
                format!(
                    r#"Bearer realm="edge-auth", error="invalid_token", error_description="{}""#,
                    reason.id()
                ),
            ));
        }
    } else if reason == Reason::StepUpRequired {
        // RFC 9470 §3: the token is fine, the authentication behind it is not recent or strong
        // enough. Browsers are sent to log in again, like for a token problem.
        if ctx.browser_navigation && !ctx.login_path.is_empty() {
            status = 302;
            headers.push(("location", login_location(ctx, "&step_up=1")));
        } else {
            let mut challenge = format!(
                r#"Bearer realm="edge-auth", error="insufficient_user_authentication", error_description="{}""#,
                reason.description()
            );
            if let Some(params) = ctx.step_up.as_deref().filter(|p| !p.is_empty()) {
                challenge.push_str(", ");
                challenge.push_str(params);
            }
            headers.push(("www-authenticate", challenge));
        }
    } else if reason == Reason::InsufficientPermissions {
        let scope = ctx.scope.as_deref().unwrap_or("");
        headers.push((
            "www-authenticate",
            format!(
                r#"Bearer realm="edge-auth", error="insufficient_scope", scope="{}""#,
                scope.replace('"', "")
            ),
        ));
    } else if status == 401 {
        // Webhook senders: 401 must still carry a challenge (RFC 9110 §15.5.2).
        headers.push(("www-authenticate", r#"Signature realm="webhooks""#.into()));
    }
    if matches!(status, 429 | 503) {
        headers.push((
            "retry-after",
            ctx.retry_after_secs.unwrap_or(1).max(1).to_string(),
        ));
    }
    headers.extend(ctx.extra_headers.iter().cloned());

    let message = if reason.side() == Side::Internal {
        "internal error"
    } else {
        reason.description()
    };
    let body = Object::new()
        .str("error", reason.id())
        .str("message", message)
        .str("request_id", ctx.request_id)
        .finish();
    ResponseSpec {
        status,
        headers,
        body,
    }
}

/// A webhook delivery the edge already accepted inside the replay window: answered here so the
/// sender stops retrying, without reaching the origin.
pub fn duplicate_delivery(request_id: &str) -> ResponseSpec {
    ResponseSpec {
        status: 200,
        headers: vec![
            ("content-type", "application/json".into()),
            ("cache-control", "no-store".into()),
        ],
        body: Object::new()
            .str("request_id", request_id)
            .str("status", "duplicate")
            .finish(),
    }
}

/// `next=` must stay on this origin: a path, not `//host` or `/\host` (open redirect).
/// Browsers drop tabs and newlines inside URLs, so `/\t/evil.example` would become
/// `//evil.example`: any control character or backslash disqualifies the path.
fn is_safe_next(p: &str) -> bool {
    p.starts_with('/')
        && !p.starts_with("//")
        && !p.bytes().any(|b| b.is_ascii_control() || b == b'\\')
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> DenyContext<'static> {
        DenyContext {
            path_and_query: "/api/me",
            login_path: "/login",
            request_id: "r1",
            ..Default::default()
        }
    }
    fn header<'a>(r: &'a ResponseSpec, n: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn every_reason_has_a_status_and_a_json_body_naming_it() {
        for &r in Reason::ALL {
            let resp = deny(r, &api());
            assert!((400..600).contains(&resp.status), "{r}");
            let v: serde_json::Value = serde_json::from_str(&resp.body).unwrap();
            assert_eq!(v["error"], r.id());
            assert_eq!(v["request_id"], "r1");
        }
    }

    #[test]
    fn api_clients_get_rfc6750_challenges() {
        assert_eq!(
            header(&deny(Reason::TokenMissing, &api()), "www-authenticate"),
            Some(r#"Bearer realm="edge-auth""#)
        );
        let r = deny(Reason::TokenExpired, &api());
        assert_eq!(r.status, 401);
        assert!(header(&r, "www-authenticate")
            .unwrap()
            .contains(r#"error="invalid_token""#));
        let ctx = DenyContext {
            scope: Some("rbac:admin".into()),
            ..api()
        };
        let r = deny(Reason::InsufficientPermissions, &ctx);
        assert_eq!(r.status, 403);
        assert!(header(&r, "www-authenticate")
            .unwrap()
            .contains(r#"error="insufficient_scope", scope="rbac:admin""#));
    }

    #[test]
    fn browsers_are_redirected_to_login_with_a_same_origin_next() {
        let ctx = DenyContext {
            browser_navigation: true,
            path_and_query: "/account?tab=a b",
            ..api()
        };
        let r = deny(Reason::TokenMissing, &ctx);
        assert_eq!(r.status, 302);
        assert_eq!(
            header(&r, "location"),
            Some("/login?next=/account%3Ftab%3Da%20b")
        );
        let evil = DenyContext {
            browser_navigation: true,
            path_and_query: "//evil.example/x",
            ..api()
        };
        assert_eq!(
            header(&deny(Reason::TokenExpired, &evil), "location"),
            Some("/login?next=/")
        );
        // Not a token problem: no redirect, even for a browser.
        assert_eq!(deny(Reason::InsufficientPermissions, &ctx).status, 403);
    }

    #[test]
    fn limits_and_outages_say_when_to_retry_and_internal_errors_hide_details() {
        let ctx = DenyContext {
            retry_after_secs: Some(7),
            ..api()
        };
        assert_eq!(
            header(&deny(Reason::RateLimited, &ctx), "retry-after"),
            Some("7")
        );
        let r = deny(Reason::JwksUnavailable, &api());
        assert_eq!((r.status, header(&r, "retry-after")), (503, Some("1")));
        let r = deny(Reason::ConfigInvalid, &api());
        assert_eq!(r.status, 500);
        assert!(r.body.contains("\"internal error\""));
    }

    #[test]
    fn the_readme_lists_every_reason_with_its_status() {
        let readme = include_str!("../README.md");
        for &r in Reason::ALL {
            let row = format!("| `{}` | {} |", r.id(), status_of(r));
            assert!(readme.contains(&row), "README.md lacks the row {row}");
        }
    }

    #[test]
    fn browser_detection_needs_a_safe_method_and_html() {
        assert!(is_browser_navigation(
            "GET",
            Some("text/html,application/xhtml+xml")
        ));
        assert!(!is_browser_navigation("POST", Some("text/html")));
        assert!(!is_browser_navigation("GET", Some("application/json")));
        assert!(!is_browser_navigation("GET", None));
    }
}

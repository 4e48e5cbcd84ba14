//! Cross-cutting API contract: the OpenAPI document matches the router, problem+json
//! everywhere, metrics, the revocation feed's cursor rules.

mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{As, TestApp};
use serde_json::Value;

#[tokio::test]
async fn the_openapi_document_describes_exactly_the_routes_served() {
    // Passkeys configured, so their routes answer (503 passkeys_not_configured otherwise).
    let t = TestApp::with_env(&[("WEBAUTHN_RP_ID", "localhost")]).await;
    let r = t
        .send(Request::get("/openapi.json").body(Body::empty()).unwrap())
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let doc: Value = r.body;
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            documented.insert((method.clone(), path.clone()));
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} has responses"
            );
        }
    }
    let served: BTreeSet<(String, String)> = edge_auth_origin::http::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, served);
    // Every documented operation is really routed (never the 404/405 fallbacks).
    for (m, p) in &served {
        let uri = p
            .replace("{id}", "x")
            .replace("{name}", "x")
            .replace("{permission}", "y")
            .replace("{role}", "y")
            .replace("{a}", "x")
            .replace("{b}", "y")
            .replace("{provider}", "stripe")
            .replace("{customer}", "cus_x");
        let method = Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
        let body =
            (method != Method::GET && method != Method::DELETE).then(|| serde_json::json!({}));
        let r = t.call(method, &uri, &As::admin("usr_root"), body).await;
        assert_ne!(r.error(), "not_found", "{m} {p}");
        assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{m} {p}");
        assert!(r.status.as_u16() < 500, "{m} {p}: {:?}", r.body);
        if r.status.is_client_error() {
            assert_eq!(
                r.header("content-type"),
                Some("application/problem+json"),
                "{m} {p}"
            );
        }
    }
}

#[tokio::test]
async fn wrong_method_and_unknown_path_are_problems() {
    let t = TestApp::new().await;
    let r = t
        .call(Method::DELETE, "/api/me", &As::anonymous(), None)
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    let r = t.get("/admin/nothing-here", &As::admin("usr_root")).await;
    assert_eq!((r.status, r.error()), (StatusCode::NOT_FOUND, "not_found"));
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_logins() {
    let t = TestApp::new().await;
    t.signup_login("zoe@example.com").await;
    t.post(
        "/auth/login",
        &As::anonymous(),
        serde_json::json!({"email": "zoe@example.com", "password": "nope nope nope"}),
    )
    .await;
    let r = t
        .send(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(r.raw).unwrap();
    for want in [
        "origin_http_requests_total{method=\"POST\",route=\"/auth/login\",status=\"200\"} 1",
        "origin_http_requests_total{method=\"POST\",route=\"/auth/login\",status=\"401\"} 1",
        "origin_http_request_duration_seconds_count{route=\"/auth/signup\"} 1",
        "origin_logins_total{result=\"success\"} 1",
        "origin_logins_total{result=\"failure\"} 1",
    ] {
        assert!(text.contains(want), "missing {want}\n{text}");
    }
}

#[tokio::test]
async fn the_revocation_feed_pages_by_cursor_and_refuses_bad_input() {
    let t = TestApp::new().await;
    let (_, who) = t.signup_login("abe@example.com").await;
    let empty = t.feed(0).await;
    assert_eq!(empty["revocations"], serde_json::json!([]));
    assert_eq!(
        empty["next"], "0.0",
        "an empty feed keeps the cursor where it was"
    );
    t.call(Method::POST, "/auth/logout", &who, None).await;
    let f = t.feed(0).await;
    assert_eq!(f["revocations"].as_array().unwrap().len(), 1);
    let next = f["next"].as_str().unwrap();
    assert_ne!(next, "0.0", "the cursor moved past the entry");
    assert_eq!(
        t.feed_from(next).await["revocations"],
        serde_json::json!([]),
        "nothing new after the cursor"
    );
    // Entries stop mattering once every affected token has expired.
    t.state.clock.advance_secs(900 + 61);
    assert_eq!(t.feed(0).await["revocations"], serde_json::json!([]));
    for bad in ["-1", "abc", "1.5.2", "1.-5", "1x"] {
        let r = t
            .get(
                &format!("/internal/revocations?since={bad}"),
                &As::anonymous(),
            )
            .await;
        assert_eq!(
            (r.status, r.error()),
            (StatusCode::BAD_REQUEST, "invalid_cursor"),
            "{bad}"
        );
    }
    let r = t.get("/internal/revocations", &who).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::FORBIDDEN, "internal_only")
    );
    let r = t
        .send(
            Request::get("/internal/revocations")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::FORBIDDEN, "edge_signature_invalid")
    );
}

//! The trust boundary: envelope required (missing / stale / wrong → 403), /healthz exempt,
//! /api/me echoes the identity the edge signed.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{As, TestApp};
use edge_auth::envelope;

#[tokio::test]
async fn healthz_needs_no_envelope() {
    let t = TestApp::new().await;
    let r = t
        .send(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "ok");
}

#[tokio::test]
async fn a_request_without_an_envelope_is_refused() {
    let t = TestApp::new().await;
    let r = t
        .send(
            Request::get("/api/me")
                .header("x-auth-user", "usr_forged")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.error(), "edge_signature_invalid");
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
}

#[tokio::test]
async fn a_stale_envelope_is_refused() {
    let t = TestApp::new().await;
    let req = t.signed(Method::GET, "/api/me", &As::user("usr_1", "ses_1"), None);
    t.state.clock.advance_secs(61);
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.error(), "edge_signature_invalid");
}

#[tokio::test]
async fn an_envelope_from_the_future_beyond_max_age_is_refused() {
    let t = TestApp::new().await;
    t.state.clock.advance_secs(120);
    let req = t.signed(Method::GET, "/api/me", &As::user("usr_1", "ses_1"), None);
    t.state.clock.advance_secs(-120);
    assert_eq!(t.send(req).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_tampered_or_wrongly_keyed_envelope_is_refused() {
    let t = TestApp::new().await;
    // Identity header changed after signing.
    let mut req = t.signed(Method::GET, "/api/me", &As::user("usr_1", "ses_1"), None);
    req.headers_mut()
        .insert(envelope::USER, "usr_admin".parse().unwrap());
    assert_eq!(t.send(req).await.error(), "edge_signature_invalid");
    // An identity header added after signing (any spelling).
    let mut req = t.signed(Method::GET, "/api/me", &As::anonymous(), None);
    req.headers_mut()
        .insert("x_auth_roles", "admin".parse().unwrap());
    assert_eq!(t.send(req).await.status, StatusCode::FORBIDDEN);
    // Signed for another path.
    let req = t.signed(Method::GET, "/api/me?x=1", &As::anonymous(), None);
    let (mut parts, body) = req.into_parts();
    parts.uri = "/api/me".parse().unwrap();
    assert_eq!(
        t.send(Request::from_parts(parts, body)).await.status,
        StatusCode::FORBIDDEN
    );
    // Signed with another key.
    let mut req = t.signed(Method::GET, "/api/me", &As::anonymous(), None);
    let other =
        envelope::EnvelopeKey::new(edge_auth::secret::SecretBytes::new(vec![9u8; 32], 32).unwrap())
            .unwrap();
    let sig = envelope::sign(&other, t.state.clock.now(), "GET", "/api/me", []).unwrap();
    req.headers_mut()
        .insert(envelope::SIGNATURE_HEADER, sig.parse().unwrap());
    assert_eq!(t.send(req).await.status, StatusCode::FORBIDDEN);
    // Garbage signature.
    let mut req = t.signed(Method::GET, "/api/me", &As::anonymous(), None);
    req.headers_mut()
        .insert(envelope::SIGNATURE_HEADER, "t=1,v1=zz".parse().unwrap());
    assert_eq!(t.send(req).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn me_returns_the_identity_the_edge_signed() {
    let t = TestApp::new().await;
    let r = t.get("/api/me", &As::user("usr_1", "ses_1")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["user"], "usr_1");
    assert_eq!(r.body["session"], "ses_1");
    assert_eq!(r.body["roles"], serde_json::json!(["user"]));
    assert_eq!(r.body["permissions"], serde_json::json!(["profile:read"]));
    assert_eq!(r.body["issuer"], "http://127.0.0.1:8788");
    assert_eq!(r.body["anonymous"], false);
    assert_eq!(r.body["request_id"], "req-test-1");

    let r = t.get("/api/me", &As::anonymous()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["anonymous"], true);
    assert!(r.body["user"].is_null());
}

#[tokio::test]
async fn unknown_routes_get_a_problem_404() {
    let t = TestApp::new().await;
    let r = t.get("/nope", &As::anonymous()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error(), "not_found");
}

#[test]
fn the_binary_names_the_missing_variable() {
    // A fresh data dir: a database left by another build (other migrations) must not interfere.
    let dir = std::env::temp_dir().join(format!(
        "edge-auth-origin-cli-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_edge-auth-origin"))
        .arg("serve")
        .env_remove("ENVELOPE_SECRET")
        .env("DATA_DIR", &dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ENVELOPE_SECRET: is required"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_edge-auth-origin"))
        .arg("bogus")
        .env("ENVELOPE_SECRET", common::SECRET_HEX)
        .env("DATA_DIR", &dir)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: edge-auth-origin"));
    let _ = std::fs::remove_dir_all(&dir);
}

//! `GET /auth/session` and the idle timeout: when a session can no longer be refreshed (the earlier
//! of its absolute end and its idle end), what the pages are told, and that a refresh moves the
//! idle end but never the absolute end.

mod common;

use axum::http::StatusCode;
use common::*;

const ENV: &[(&str, &str)] = &[
    ("ACCESS_TOKEN_TTL_SECS", "60"),
    ("SESSION_IDLE_TIMEOUT_SECS", "600"),
    ("REFRESH_TOKEN_TTL_SECS", "3600"),
    ("SESSION_WARNING_SECS", "45"),
];

#[tokio::test]
async fn the_status_says_when_the_session_can_no_longer_be_refreshed() {
    let t = TestApp::with_env(ENV).await;
    let (_, who) = t.signup_login("status@example.com").await;
    let r = t.get("/auth/session", &who).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let b = &r.body;
    let now = b["now"].as_i64().unwrap();
    let idle_end = b["idle_expires_at"].as_i64().unwrap();
    let absolute_end = b["session_expires_at"].as_i64().unwrap();
    assert!((599..=601).contains(&(idle_end - now)), "{b}");
    assert!((3599..=3601).contains(&(absolute_end - now)), "{b}");
    assert_eq!(b["refreshable_until"], b["idle_expires_at"]);
    assert_eq!(b["extendable"], true);
    assert_eq!(b["warn_before_secs"], 45);
    assert_eq!(b["idle_timeout_secs"], 600);
    assert_eq!(b["session_id"].as_str(), who.session.as_deref());
    // Nothing that could be replayed is in the answer.
    assert!(!r.body.to_string().contains("token\":\""), "{b}");
}

#[tokio::test]
async fn a_refresh_moves_the_idle_end_and_never_the_absolute_end() {
    let t = TestApp::with_env(ENV).await;
    let (login, who) = t.signup_login("slide@example.com").await;
    let before = t.get("/auth/session", &who).await.body;
    t.state.clock.advance_secs(500);
    let r = t.refresh(login["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let after = t.get("/auth/session", &who).await.body;
    let moved =
        after["idle_expires_at"].as_i64().unwrap() - before["idle_expires_at"].as_i64().unwrap();
    assert!((499..=501).contains(&moved), "{before} → {after}");
    assert_eq!(after["session_expires_at"], before["session_expires_at"]);
}

#[tokio::test]
async fn an_idle_session_cannot_be_refreshed_and_its_status_says_why() {
    let t = TestApp::with_env(ENV).await;
    let (login, who) = t.signup_login("idle@example.com").await;
    t.state.clock.advance_secs(601);
    let r = t.get("/auth/session", &who).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "session_idle_timeout")
    );
    let r = t.refresh(login["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "session_idle_timeout")
    );
    // An idle session is not listed as active any more.
    let r = t.get("/api/sessions", &who).await;
    assert_eq!(
        r.body["sessions"].as_array().map(Vec::len),
        Some(0),
        "{:?}",
        r.body
    );
}

#[tokio::test]
async fn near_its_absolute_end_a_session_is_not_extendable_and_then_expires() {
    let t = TestApp::with_env(ENV).await;
    let (login, who) = t.signup_login("absolute@example.com").await;
    let mut token = login["refresh_token"].as_str().unwrap().to_owned();
    // Refreshed every 500 s: idle never bites, the absolute end (3600 s) does.
    for _ in 0..6 {
        t.state.clock.advance_secs(500);
        let r = t.refresh(&token).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        token = r.body["refresh_token"].as_str().unwrap().to_owned();
    }
    let b = t.get("/auth/session", &who).await.body;
    assert_eq!(b["refreshable_until"], b["session_expires_at"], "{b}");
    assert_eq!(b["extendable"], false, "{b}");
    t.state.clock.advance_secs(601);
    let r = t.get("/auth/session", &who).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "refresh_token_expired")
    );
    let r = t.refresh(&token).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "refresh_token_expired")
    );
}

#[tokio::test]
async fn a_revoked_or_foreign_session_has_no_status() {
    let t = TestApp::with_env(ENV).await;
    let (_, who) = t.signup_login("revoked@example.com").await;
    let (_, other) = t.signup_login("other@example.com").await;
    // Someone else's session id is not found, whoever asks.
    let mut forged = other.clone();
    forged.session = who.session.clone();
    let r = t.get("/auth/session", &forged).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::NOT_FOUND, "session_not_found")
    );
    let r = t.post("/auth/logout", &who, serde_json::json!({})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let r = t.get("/auth/session", &who).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "session_revoked")
    );
    let r = t.get("/auth/session", &As::anonymous()).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "authentication_required")
    );
}

#[tokio::test]
async fn the_idle_timeout_and_warning_are_validated_at_load() {
    let mut env = base_env();
    env.insert("ACCESS_TOKEN_TTL_SECS".into(), "60".into());
    env.insert("SESSION_IDLE_TIMEOUT_SECS".into(), "59".into());
    let e = edge_auth_origin::config::Config::from_map(&env).unwrap_err();
    assert!(e.to_string().contains("SESSION_IDLE_TIMEOUT_SECS"), "{e}");
    let mut env = base_env();
    env.insert("SESSION_WARNING_SECS".into(), "5".into());
    let e = edge_auth_origin::config::Config::from_map(&env).unwrap_err();
    assert!(e.to_string().contains("SESSION_WARNING_SECS"), "{e}");
}

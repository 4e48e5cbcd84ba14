//! Accounts: sign-up rules, log-in, equal-time failures, throttling, disable, rehash.

mod common;

use axum::http::StatusCode;
use common::{decode_claims, As, TestApp, PASSWORD};
use serde_json::json;

#[tokio::test]
async fn signup_normalizes_the_email_and_refuses_duplicates() {
    let t = TestApp::new().await;
    let r = t
        .post(
            "/auth/signup",
            &As::anonymous(),
            json!({"email": "  Alice@Example.COM", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["user"]["email"], "alice@example.com");
    assert!(r.body["user"]["id"].as_str().unwrap().starts_with("usr_"));
    let r = t
        .post(
            "/auth/signup",
            &As::anonymous(),
            json!({"email": "alice@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!((r.status, r.error()), (StatusCode::CONFLICT, "email_taken"));
}

#[tokio::test]
async fn signup_refuses_bad_input_with_precise_reasons() {
    let t = TestApp::new().await;
    let cases = [
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_email",
        ),
        (
            json!({"email": "bob@example.com", "password": "short"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "password_too_short",
        ),
        (
            json!({"email": "bob@example.com", "password": "password1234"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "password_too_common",
        ),
        (
            json!({"email": "bob@example.com", "password": "x".repeat(5000)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "password_too_long",
        ),
        (
            json!({"email": "bob@example.com"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            json!({"email": "bob@example.com", "password": PASSWORD, "admin": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            json!(["array"]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
    ];
    for (body, status, id) in cases {
        let r = t.post("/auth/signup", &As::anonymous(), body.clone()).await;
        assert_eq!((r.status, r.error()), (status, id), "{body}");
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
    }
    // Malformed JSON and a wrong content type.
    let mut req = t.signed(
        axum::http::Method::POST,
        "/auth/signup",
        &As::anonymous(),
        None,
    );
    *req.body_mut() = axum::body::Body::from("{\"email\":");
    req.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    let r = t.send(req).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::BAD_REQUEST, "malformed_json")
    );
    let mut req = t.signed(
        axum::http::Method::POST,
        "/auth/signup",
        &As::anonymous(),
        None,
    );
    *req.body_mut() = axum::body::Body::from("email=a");
    let r = t.send(req).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    // Nothing half-written: no user row exists.
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&t.state.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn login_issues_an_access_token_with_every_claim() {
    let t = TestApp::new().await;
    let (body, _) = t.signup_login("carol@example.com").await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["refresh_token"].as_str().unwrap().len(), 43);
    let c = decode_claims(body["access_token"].as_str().unwrap());
    assert_eq!(c["iss"], "http://127.0.0.1:8788");
    assert_eq!(c["aud"], "edge-auth");
    assert!(c["sub"].as_str().unwrap().starts_with("usr_"));
    assert_eq!(c["sid"], body["session_id"]);
    assert!(c["jti"].as_str().unwrap().starts_with("jti_"));
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 900);
    assert_eq!(c["nbf"], c["iat"]);
    assert_eq!(c["roles"], json!(["user"]));
    assert_eq!(c["permissions"], json!(["profile:read"]));
    let header = decode_claims(&format!(
        "x.{}",
        body["access_token"]
            .as_str()
            .unwrap()
            .split('.')
            .next()
            .unwrap()
    ));
    assert_eq!(header["alg"], "EdDSA");
    assert!(header["kid"].is_string());
}

#[tokio::test]
async fn unknown_email_and_wrong_password_give_the_same_answer() {
    let t = TestApp::new().await;
    t.signup_login("dave@example.com").await;
    let a = t
        .post(
            "/auth/login",
            &As::anonymous(),
            json!({"email": "dave@example.com", "password": "wrong password here"}),
        )
        .await;
    let b = t
        .post(
            "/auth/login",
            &As::anonymous(),
            json!({"email": "nobody@example.com", "password": "wrong password here"}),
        )
        .await;
    assert_eq!(
        (a.status, a.error()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    assert_eq!(a.status, b.status);
    assert_eq!(a.raw, b.raw, "byte-identical bodies");
}

#[tokio::test]
async fn repeated_failures_are_throttled_with_growing_delays() {
    let t = TestApp::new().await;
    t.signup_login("frank@example.com").await;
    for _ in 0..5 {
        let r = t
            .post(
                "/auth/login",
                &As::anonymous(),
                json!({"email": "frank@example.com", "password": "bad password 1"}),
            )
            .await;
        assert_eq!(r.error(), "invalid_credentials");
    }
    // The 5th failure locked the account for 1 s: even the right password waits.
    let r = t
        .post(
            "/auth/login",
            &As::anonymous(),
            json!({"email": "frank@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::TOO_MANY_REQUESTS, "login_throttled")
    );
    assert_eq!(r.header("retry-after"), Some("1"));
    t.state.clock.advance_secs(2);
    let r = t
        .post(
            "/auth/login",
            &As::anonymous(),
            json!({"email": "frank@example.com", "password": "bad password 2"}),
        )
        .await;
    assert_eq!(r.error(), "invalid_credentials");
    let r = t
        .post(
            "/auth/login",
            &As::anonymous(),
            json!({"email": "frank@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.error(), "login_throttled");
    assert_eq!(r.header("retry-after"), Some("2"), "the delay doubled");
    // Unknown emails are throttled the same way (no existence oracle).
    for _ in 0..5 {
        t.post(
            "/auth/login",
            &As::anonymous(),
            json!({"email": "ghost@example.com", "password": "bad password 1"}),
        )
        .await;
    }
    let r = t
        .post(
            "/auth/login",
            &As::anonymous(),
            json!({"email": "ghost@example.com", "password": "bad password 1"}),
        )
        .await;
    assert_eq!(r.error(), "login_throttled");
    // After the delay the right password works and resets the counter.
    t.state.clock.advance_secs(3);
    let r = t
        .post(
            "/auth/login",
            &As::anonymous(),
            json!({"email": "frank@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let actions = t.audit_actions().await;
    assert!(actions.iter().filter(|a| *a == "login.failure").count() >= 11);
}

#[tokio::test]
async fn a_disabled_account_cannot_log_in_or_refresh_and_can_be_enabled() {
    let t = TestApp::new().await;
    let (body, who) = t.signup_login("gina@example.com").await;
    let uid = who.user.clone().unwrap();
    let r = t
        .post(
            &format!("/admin/users/{uid}/disable"),
            &As::admin("usr_root"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let r = t
        .post(
            "/auth/login",
            &As::anonymous(),
            json!({"email": "gina@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::FORBIDDEN, "account_disabled")
    );
    let r = t.refresh(body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "session_revoked")
    );
    // Disabling fed the revocation feed: the session and a user mark.
    let feed = t.feed(0).await;
    let kinds: Vec<&str> = feed["revocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"session") && kinds.contains(&"user"),
        "{feed}"
    );
    let r = t
        .post(
            &format!("/admin/users/{uid}/enable"),
            &As::admin("usr_root"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    t.login("gina@example.com", PASSWORD).await;
    let r = t
        .post(
            "/admin/users/usr_nope/disable",
            &As::admin("usr_root"),
            json!({}),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::NOT_FOUND, "user_not_found")
    );
}

#[tokio::test]
async fn changed_argon2_parameters_rehash_on_login() {
    let t = TestApp::new().await;
    t.signup_login("hank@example.com").await;
    let before: String = sqlx::query_scalar("SELECT password_hash FROM users")
        .fetch_one(&t.state.db.pool)
        .await
        .unwrap();
    assert!(before.contains("m=256,t=1,p=1"), "{before}");
    // Same database, new parameters.
    let mut env = common::base_env();
    env.insert("ARGON2_M_COST_KIB".into(), "512".into());
    env.insert("ARGON2_T_COST".into(), "2".into());
    let config = edge_auth_origin::config::Config::from_map(&env).unwrap();
    let state2 = edge_auth_origin::AppState::new(config, t.state.db.clone(), t.state.clock.clone())
        .await
        .unwrap();
    let t2 = TestApp {
        router: edge_auth_origin::app(state2.clone()),
        state: state2,
        key: t.key.clone(),
    };
    t2.login("hank@example.com", PASSWORD).await;
    let after: String = sqlx::query_scalar("SELECT password_hash FROM users")
        .fetch_one(&t.state.db.pool)
        .await
        .unwrap();
    assert!(
        after.starts_with("$argon2id$v=19$m=512,t=2,p=1$"),
        "{after}"
    );
    t2.login("hank@example.com", PASSWORD).await;
}

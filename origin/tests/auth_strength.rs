//! Tokens say how and when the person authenticated: `auth_time` (kept across refreshes),
//! `amr`, `acr`; sensitive operations check freshness themselves.

mod common;

use axum::http::StatusCode;
use common::{decode_claims, TestApp};
use edge_auth_origin::domain::sessions::{self, Authentication, ACR_MFA, ACR_PWD};
use edge_auth_origin::domain::{accounts, Ctx, DomainError};

#[tokio::test]
async fn a_login_token_carries_auth_time_amr_and_acr_and_a_refresh_keeps_them() {
    let t = TestApp::new().await;
    let before = t.state.clock.now_ms() / 1000;
    let (login, _) = t.signup_login("strength@example.com").await;
    let after = t.state.clock.now_ms() / 1000;
    let c = decode_claims(login["access_token"].as_str().unwrap());
    let auth_time = c["auth_time"].as_i64().expect("auth_time is a number");
    assert!((before..=after).contains(&auth_time), "{c}");
    assert_eq!(c["amr"], serde_json::json!(["pwd"]));
    assert_eq!(c["acr"], ACR_PWD);
    assert_eq!(login["auth_time"], auth_time, "the body says it too");
    assert_eq!(login["acr"], ACR_PWD);

    // Two minutes later a refresh mints a new token: new iat, the same authentication.
    t.state.clock.advance_secs(120);
    let r = t.refresh(login["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let c2 = decode_claims(r.body["access_token"].as_str().unwrap());
    assert!(c2["iat"].as_i64().unwrap() >= c["iat"].as_i64().unwrap() + 120);
    assert_eq!(c2["auth_time"], auth_time);
    assert_eq!(c2["amr"], c["amr"]);
    assert_eq!(c2["acr"], c["acr"]);
    // And the next one too.
    let r = t.refresh(r.body["refresh_token"].as_str().unwrap()).await;
    let c3 = decode_claims(r.body["access_token"].as_str().unwrap());
    assert_eq!(c3["auth_time"], auth_time);
}

#[test]
fn acr_follows_the_methods() {
    assert_eq!(Authentication::password().acr(), ACR_PWD);
    assert_eq!(Authentication::password_and_otp().acr(), ACR_MFA);
    assert_eq!(
        Authentication::password_and_otp().amr,
        vec!["pwd", "otp", "mfa"]
    );
    assert_eq!(
        Authentication {
            amr: vec!["fed".into()]
        }
        .acr(),
        "urn:edge-auth:acr:fed"
    );
}

#[tokio::test]
async fn require_fresh_reads_the_forwarded_auth_time_or_the_session() {
    let t = TestApp::new().await;
    let core = &t.state.core;
    let u = accounts::signup(
        core,
        &Ctx::default(),
        "fresh@example.com",
        common::PASSWORD.into(),
    )
    .await
    .unwrap();
    let s = sessions::create(core, &Ctx::default(), &u).await.unwrap();
    let mut ctx = Ctx::default().acting(&u.id);
    // Nothing says when the caller authenticated: not fresh.
    assert!(matches!(
        sessions::require_fresh(core, &ctx, 300).await,
        Err(DomainError::StepUpRequired { max_age_secs: 300 })
    ));
    ctx.session = Some(s.session_id.clone());
    assert_eq!(
        sessions::require_fresh(core, &ctx, 300).await.unwrap(),
        s.auth_time
    );
    // Another user's session does not count.
    let mut other = ctx.clone();
    other.actor = Some("usr_someone_else".into());
    assert!(sessions::require_fresh(core, &other, 300).await.is_err());
    t.state.clock.advance_secs(301);
    assert!(matches!(
        sessions::require_fresh(core, &ctx, 300).await,
        Err(DomainError::StepUpRequired { max_age_secs: 300 })
    ));
    assert!(sessions::require_fresh(core, &ctx, 600).await.is_ok());
    // The auth_time the edge forwards from the verified token wins over the session's.
    ctx.auth_time = Some(t.state.clock.now_ms() / 1000 - 10);
    assert!(sessions::require_fresh(core, &ctx, 300).await.is_ok());
    ctx.auth_time = Some(t.state.clock.now_ms() / 1000 - 400);
    assert!(sessions::require_fresh(core, &ctx, 300).await.is_err());
    // A revoked session is never fresh.
    ctx.auth_time = None;
    t.state.clock.advance_secs(-301);
    assert!(sessions::require_fresh(core, &ctx, 300).await.is_ok());
    sessions::revoke(core, &ctx, &u.id, &s.session_id, "logout")
        .await
        .unwrap();
    assert!(sessions::require_fresh(core, &ctx, 300).await.is_err());
}

#[tokio::test]
async fn a_step_up_renews_auth_time_and_lets_a_sensitive_operation_through() {
    let t = TestApp::new().await;
    let (login, who) = t.signup_login("stepup@example.com").await;
    let first = decode_claims(login["access_token"].as_str().unwrap())["auth_time"]
        .as_i64()
        .unwrap();
    t.state.clock.advance_secs(600);
    let delete = |who: common::As| {
        let t = &t;
        async move {
            t.call(axum::http::Method::DELETE, "/api/account", &who, None)
                .await
        }
    };
    let r = delete(who.clone()).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "insufficient_user_authentication")
    );
    let r = t
        .post(
            "/auth/step-up",
            &who,
            serde_json::json!({ "password": "not the password" }),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    let r = t
        .post(
            "/auth/step-up",
            &common::As::anonymous(),
            serde_json::json!({ "password": common::PASSWORD }),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "authentication_required")
    );
    let r = t
        .post(
            "/auth/step-up",
            &who,
            serde_json::json!({ "password": common::PASSWORD }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body.get("refresh_token").is_none());
    let c = decode_claims(r.body["access_token"].as_str().unwrap());
    let now = t.state.clock.now_ms() / 1000;
    assert!(
        c["auth_time"].as_i64().unwrap() >= first + 600 && c["auth_time"].as_i64().unwrap() <= now
    );
    assert_eq!(c["amr"], serde_json::json!(["pwd"]));
    assert_eq!(c["sid"], login["session_id"]);
    // The refresh token still works, and carries the new authentication from now on.
    let r = t.refresh(login["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        decode_claims(r.body["access_token"].as_str().unwrap())["auth_time"],
        c["auth_time"]
    );
    // And the origin's own freshness check passes.
    let r = delete(who).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
}

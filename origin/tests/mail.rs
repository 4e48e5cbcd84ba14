//! Password reset, e-mail verification and password change over real SMTP: the origin's
//! lettre transport talks to a local SMTP sink (tests/common/smtp.rs); the tests read the real
//! message, use its link once, and check what the change ended.

mod common;
#[path = "common/smtp.rs"]
mod smtp;

use std::collections::HashMap;

use axum::http::StatusCode;
use common::{As, TestApp, PASSWORD};
use edge_auth_origin::config::Config;
use edge_auth_origin::domain::{credentials, Ctx, DomainError};
use serde_json::json;
use smtp::Sink;

const NEW_PASSWORD: &str = "marmalade quartz lantern 7";

async fn app_with_mail(sink: &Sink) -> TestApp {
    TestApp::with_env(&[
        ("SMTP_URL", &sink.url()),
        ("MAIL_FROM", "edge-auth <no-reply@edge-auth.test>"),
        ("PUBLIC_URL", "http://localhost:8787/"),
    ])
    .await
}

#[tokio::test]
async fn a_mailed_reset_link_works_once_and_ends_every_session() {
    let sink = Sink::start().await;
    let t = app_with_mail(&sink).await;
    let (first, who) = t.signup_login("reset@example.com").await;
    let second = t.login("reset@example.com", PASSWORD).await;

    let r = t
        .post(
            "/auth/password/forgot",
            &As::anonymous(),
            json!({ "email": " Reset@Example.com " }),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let known = r.body.clone();
    // An address no account has: the same answer.
    let r = t
        .post(
            "/auth/password/forgot",
            &As::anonymous(),
            json!({ "email": "nobody@example.com" }),
        )
        .await;
    assert_eq!((r.status, &r.body), (StatusCode::ACCEPTED, &known));

    let mails = sink.wait_for(1).await;
    let m = &mails[0];
    assert_eq!(m.from, "no-reply@edge-auth.test");
    assert_eq!(m.to, vec!["reset@example.com"]);
    assert!(
        m.data.contains("Subject: Reset your password"),
        "{}",
        m.data
    );
    assert!(m
        .text()
        .contains("http://localhost:8787/reset-password#token="));
    let token = m.link_token("/reset-password");
    assert_eq!(token.len(), 43, "{token}");
    // Only its hash is stored.
    let stored: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM mail_tokens")
        .fetch_all(&t.state.db.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], token);

    // The policy applies, and a refused password does not spend the link.
    let r = t
        .post(
            "/auth/password/reset",
            &As::anonymous(),
            json!({ "token": token, "password": "short" }),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "password_too_short")
    );
    let cursor = t.feed(0).await["next"].clone();
    let r = t
        .post(
            "/auth/password/reset",
            &As::anonymous(),
            json!({ "token": token, "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    // Used once.
    let r = t
        .post(
            "/auth/password/reset",
            &As::anonymous(),
            json!({ "token": token, "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::BAD_REQUEST, "reset_token_invalid")
    );

    // Every old session is over, and the edge learns it from the feed.
    for login in [&first, &second] {
        let r = t.refresh(login["refresh_token"].as_str().unwrap()).await;
        assert_eq!(
            (r.status, r.error()),
            (StatusCode::UNAUTHORIZED, "session_revoked")
        );
    }
    let feed = t
        .feed_from(
            &cursor
                .as_str()
                .map(str::to_owned)
                .unwrap_or(cursor.to_string()),
        )
        .await;
    let entries = feed["revocations"].as_array().unwrap();
    let user = who.user.clone().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["kind"] == "user" && e["user"] == user),
        "{feed}"
    );
    for login in [&first, &second] {
        assert!(
            entries
                .iter()
                .any(|e| e["kind"] == "session" && e["session"] == login["session_id"]),
            "{feed}"
        );
    }
    // The old password is gone, the new one works, the address counts as proven.
    let r = t
        .post(
            "/auth/login",
            &As::anonymous(),
            json!({ "email": "reset@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    t.login("reset@example.com", NEW_PASSWORD).await;
    assert!(credentials::email_verified(&t.state, &user).await.unwrap());
    assert!(t
        .audit_actions()
        .await
        .contains(&"password.reset".to_owned()));
    // Nothing was mailed for the unknown address.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test]
async fn a_reset_link_expires_and_malformed_ones_are_refused() {
    let sink = Sink::start().await;
    let t = app_with_mail(&sink).await;
    t.signup_login("late@example.com").await;
    let ctx = Ctx::default();
    credentials::request_password_reset(&t.state, &ctx, "late@example.com")
        .await
        .unwrap();
    let token = sink.wait_for(1).await[0].link_token("/reset-password");
    t.state.clock.advance_secs(3601);
    assert!(matches!(
        credentials::reset_password(&t.state, &ctx, &token, NEW_PASSWORD.into()).await,
        Err(DomainError::ResetTokenInvalid)
    ));
    for bad in [
        json!({ "token": "", "password": NEW_PASSWORD }),
        json!({ "token": "x".repeat(4000), "password": NEW_PASSWORD }),
    ] {
        let r = t.post("/auth/password/reset", &As::anonymous(), bad).await;
        assert_eq!(
            (r.status, r.error()),
            (StatusCode::BAD_REQUEST, "reset_token_invalid")
        );
    }
    let r = t
        .post(
            "/auth/password/reset",
            &As::anonymous(),
            json!({ "token": "a" }),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
    );
    let r = t
        .post(
            "/auth/password/forgot",
            &As::anonymous(),
            json!({ "email": "not an address" }),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_email")
    );
}

#[tokio::test]
async fn an_email_verification_link_works_once() {
    let sink = Sink::start().await;
    let t = app_with_mail(&sink).await;
    let (_, who) = t.signup_login("verify@example.com").await;
    let r = t.post("/api/email/verification", &who, json!({})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let m = &sink.wait_for(1).await[0];
    assert_eq!(m.to, vec!["verify@example.com"]);
    assert!(m.data.contains("Subject: Confirm your e-mail address"));
    let token = m.link_token("/verify-email");
    let user = who.user.clone().unwrap();
    assert!(!credentials::email_verified(&t.state, &user).await.unwrap());
    let r = t
        .post(
            "/auth/email/verify",
            &As::anonymous(),
            json!({ "token": token }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert!(credentials::email_verified(&t.state, &user).await.unwrap());
    let r = t
        .post(
            "/auth/email/verify",
            &As::anonymous(),
            json!({ "token": token }),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::BAD_REQUEST, "verification_token_invalid")
    );
    let r = t.post("/api/email/verification", &who, json!({})).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::CONFLICT, "email_already_verified")
    );
    // A reset link is not a verification link.
    credentials::request_password_reset(&t.state, &Ctx::default(), "verify@example.com")
        .await
        .unwrap();
    let reset = sink.wait_for(2).await[1].link_token("/reset-password");
    let r = t
        .post(
            "/auth/email/verify",
            &As::anonymous(),
            json!({ "token": reset }),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::BAD_REQUEST, "verification_token_invalid")
    );
}

#[tokio::test]
async fn a_password_change_needs_the_current_one_and_ends_the_other_sessions() {
    let t = TestApp::new().await;
    let (mine, who) = t.signup_login("change@example.com").await;
    let other = t.login("change@example.com", PASSWORD).await;
    let r = t
        .post(
            "/api/password/change",
            &who,
            json!({ "current_password": "wrong wrong wrong", "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "current_password_wrong")
    );
    let r = t
        .post(
            "/api/password/change",
            &who,
            json!({ "current_password": PASSWORD, "new_password": "short" }),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "password_too_short")
    );
    let r = t
        .post(
            "/api/password/change",
            &who,
            json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["sessions_ended"], 1);
    let r = t.refresh(other["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "session_revoked")
    );
    let r = t.refresh(mine["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "this session goes on: {:?}",
        r.body
    );
    let feed = t.feed(0).await;
    assert!(feed["revocations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["session"] == other["session_id"]));
    t.login("change@example.com", NEW_PASSWORD).await;
    let r = t
        .post(
            "/api/password/change",
            &As::anonymous(),
            json!({ "current_password": "a", "new_password": "b" }),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "authentication_required")
    );
}

#[tokio::test]
async fn without_smtp_mail_is_refused_and_a_dead_server_is_reported() {
    let t = TestApp::new().await;
    let (_, who) = t.signup_login("nomail@example.com").await;
    for (path, as_) in [
        ("/auth/password/forgot", As::anonymous()),
        ("/api/email/verification", who.clone()),
    ] {
        let r = t
            .post(path, &as_, json!({ "email": "nomail@example.com" }))
            .await;
        let r = if r.status == StatusCode::UNPROCESSABLE_ENTITY {
            t.post(path, &as_, json!({})).await
        } else {
            r
        };
        assert_eq!(
            (r.status, r.error()),
            (StatusCode::SERVICE_UNAVAILABLE, "mail_not_configured"),
            "{path}"
        );
    }
    // A server that is not there: the verification (sent while the caller waits) says so.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let t = TestApp::with_env(&[
        ("SMTP_URL", &format!("smtp://127.0.0.1:{port}")),
        ("MAIL_FROM", "no-reply@edge-auth.test"),
        ("PUBLIC_URL", "http://localhost:8787"),
    ])
    .await;
    let (_, who) = t.signup_login("deadsmtp@example.com").await;
    let r = t.post("/api/email/verification", &who, json!({})).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::SERVICE_UNAVAILABLE, "mail_unavailable")
    );
}

#[test]
fn mail_settings_are_checked_and_errors_name_the_variable() {
    let cfg = |extra: &[(&str, &str)]| {
        let mut env: HashMap<String, String> = common::base_env();
        for (k, v) in extra {
            env.insert(k.to_string(), v.to_string());
        }
        Config::from_map(&env)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    assert!(cfg(&[]).is_ok(), "mail is optional");
    let e = cfg(&[
        ("SMTP_URL", "smtp://127.0.0.1:2525"),
        ("PUBLIC_URL", "http://x.test"),
    ])
    .unwrap_err();
    assert!(e.contains("MAIL_FROM"), "{e}");
    let e = cfg(&[
        ("SMTP_URL", "smtp://127.0.0.1:2525"),
        ("MAIL_FROM", "a@b.c"),
    ])
    .unwrap_err();
    assert!(e.contains("PUBLIC_URL"), "{e}");
    let e = cfg(&[("SMTP_URL", "http://127.0.0.1:2525")]).unwrap_err();
    assert!(e.contains("SMTP_URL"), "{e}");
    let e = cfg(&[("PASSWORD_RESET_TTL_SECS", "10")]).unwrap_err();
    assert!(e.contains("PASSWORD_RESET_TTL_SECS"), "{e}");
    // The SMTP password never shows in the configuration's debug output.
    let mut env = common::base_env();
    for (k, v) in [
        ("SMTP_URL", "smtp://mailer:s3cret-pw@127.0.0.1:2525"),
        ("MAIL_FROM", "a@b.c"),
        ("PUBLIC_URL", "http://x.test"),
    ] {
        env.insert(k.into(), v.into());
    }
    let c = Config::from_map(&env).unwrap();
    assert!(!format!("{c:?}").contains("s3cret-pw"));
}

#[tokio::test]
async fn reset_mails_to_one_address_are_limited_per_hour_with_the_same_answer() {
    let sink = Sink::start().await;
    let t = TestApp::with_env(&[
        ("SMTP_URL", &sink.url()),
        ("MAIL_FROM", "no-reply@edge-auth.test"),
        ("PUBLIC_URL", "http://localhost:8787"),
        ("PASSWORD_RESET_PER_EMAIL_PER_HOUR", "2"),
    ])
    .await;
    t.signup_login("flood@example.com").await;
    t.signup_login("other@example.com").await;
    let forgot = |email: &'static str| {
        let t = &t;
        async move {
            t.post(
                "/auth/password/forgot",
                &As::anonymous(),
                json!({ "email": email }),
            )
            .await
        }
    };
    let first = forgot("flood@example.com").await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    for _ in 0..3 {
        let r = forgot("flood@example.com").await;
        assert_eq!((r.status, &r.body), (StatusCode::ACCEPTED, &first.body));
    }
    // Another address is not affected.
    assert_eq!(
        forgot("other@example.com").await.status,
        StatusCode::ACCEPTED
    );
    let mails = sink.wait_for(3).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let to: Vec<_> = sink.received().iter().map(|m| m.to[0].clone()).collect();
    assert_eq!(mails.len(), 3);
    assert_eq!(
        to.iter().filter(|a| *a == "flood@example.com").count(),
        2,
        "two links for the flooded address, then nothing: {to:?}"
    );
    // An hour later the address gets a link again.
    t.state.clock.advance_secs(3601);
    assert_eq!(
        forgot("flood@example.com").await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(sink.wait_for(4).await.len(), 4);
}

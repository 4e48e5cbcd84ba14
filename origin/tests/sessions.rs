//! Sessions and refresh tokens: rotation, reuse detection, single-session policy, logout,
//! session listing and revocation, browser cookies.

mod common;

use axum::http::{Method, StatusCode};
use common::{As, TestApp, PASSWORD};
use serde_json::json;

#[tokio::test]
async fn a_refresh_token_rotates_and_works_once() {
    let t = TestApp::new().await;
    let (login, _) = t.signup_login("ivy@example.com").await;
    let r1 = login["refresh_token"].as_str().unwrap();
    let r = t.refresh(r1).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r2 = r.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r2, r1);
    assert_eq!(r.body["session_id"], login["session_id"], "same session");
    assert_ne!(r.body["access_token"], login["access_token"]);
    // The raw token is never stored, only its hash.
    let stored: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM refresh_tokens")
        .fetch_all(&t.state.db.pool)
        .await
        .unwrap();
    assert!(stored.iter().all(|h| h.len() == 64 && h != r1 && *h != r2));
    let r = t.refresh(&r2).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn replaying_a_rotated_refresh_token_revokes_the_session() {
    let t = TestApp::new().await;
    let (login, who) = t.signup_login("jack@example.com").await;
    let old = login["refresh_token"].as_str().unwrap();
    let newer = t.refresh(old).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // The attacker (or a confused client) replays the rotated token.
    let r = t.refresh(old).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "refresh_token_reused")
    );
    // The whole family is dead: the legitimate newer token no longer works.
    let r = t.refresh(&newer).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "session_revoked")
    );
    // The session is gone from the list, the edge learns about it, and it is audited.
    let r = t.get("/api/sessions", &who).await;
    assert_eq!(r.body["sessions"], json!([]));
    let feed = t.feed(0).await;
    let e = &feed["revocations"][0];
    assert_eq!(e["kind"], "session");
    assert_eq!(e["session"], login["session_id"]);
    assert!(e["until"].as_i64().unwrap() > feed["now"].as_i64().unwrap());
    assert!(t
        .audit_actions()
        .await
        .contains(&"refresh.reuse_detected".to_owned()));
    let m = t.get("/metrics", &As::anonymous()).await;
    let text = String::from_utf8(m.raw).unwrap();
    assert!(
        text.contains("origin_refresh_reuse_detections_total 1"),
        "{text}"
    );
}

#[tokio::test]
async fn bad_refresh_requests_get_precise_reasons() {
    let t = TestApp::new().await;
    let r = t.refresh("not-a-token").await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "invalid_refresh_token")
    );
    let r = t.refresh(&"x".repeat(500)).await;
    assert_eq!(r.error(), "invalid_refresh_token");
    let r = t
        .call(Method::POST, "/auth/refresh", &As::anonymous(), None)
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::BAD_REQUEST, "refresh_token_missing")
    );
    let r = t
        .post(
            "/auth/refresh",
            &As::anonymous(),
            json!({"refresh_token": 5}),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
    );
}

#[tokio::test]
async fn refresh_tokens_die_with_the_session_lifetime() {
    let t = TestApp::with_env(&[("REFRESH_TOKEN_TTL_SECS", "3600")]).await;
    let (login, _) = t.signup_login("kate@example.com").await;
    t.state.clock.advance_secs(1800);
    let r = t.refresh(login["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status, StatusCode::OK);
    t.state.clock.advance_secs(1801);
    let r = t.refresh(r.body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "refresh_token_expired"),
        "absolute, not sliding"
    );
}

#[tokio::test]
async fn single_session_policy_revokes_the_previous_login() {
    let t = TestApp::with_env(&[("SESSION_POLICY", "single")]).await;
    let (first, who) = t.signup_login("liam@example.com").await;
    let second = t.login("liam@example.com", PASSWORD).await;
    let r = t.refresh(first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "session_revoked")
    );
    let r = t.get("/api/sessions", &who).await;
    let list = r.body["sessions"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], second["session_id"]);
    let feed = t.feed(0).await;
    assert!(feed["revocations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["session"] == first["session_id"]));
}

#[tokio::test]
async fn multi_session_policy_keeps_both() {
    let t = TestApp::new().await;
    let (first, who) = t.signup_login("mia@example.com").await;
    t.login("mia@example.com", PASSWORD).await;
    assert_eq!(
        t.refresh(first["refresh_token"].as_str().unwrap())
            .await
            .status,
        StatusCode::OK
    );
    let r = t.get("/api/sessions", &who).await;
    let list = r.body["sessions"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list.iter().filter(|s| s["current"] == true).count(), 1);
}

#[tokio::test]
async fn logout_revokes_this_session_and_logout_all_every_session() {
    let t = TestApp::new().await;
    let (a, who_a) = t.signup_login("noah@example.com").await;
    let b = t.login("noah@example.com", PASSWORD).await;
    let c = t.login("noah@example.com", PASSWORD).await;
    let r = t.call(Method::POST, "/auth/logout", &who_a, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r
        .headers
        .get_all("set-cookie")
        .iter()
        .any(|v| v.to_str().unwrap().starts_with("refresh_token=;")));
    assert_eq!(
        t.refresh(a["refresh_token"].as_str().unwrap())
            .await
            .error(),
        "session_revoked"
    );
    assert_eq!(
        t.refresh(b["refresh_token"].as_str().unwrap()).await.status,
        StatusCode::OK
    );
    let r = t
        .call(Method::POST, "/auth/logout-all", &As::from_login(&c), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["revoked_sessions"], 2);
    assert_eq!(
        t.refresh(c["refresh_token"].as_str().unwrap())
            .await
            .error(),
        "session_revoked"
    );
    let feed = t.feed(0).await;
    let user_marks: Vec<_> = feed["revocations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "user")
        .collect();
    assert_eq!(user_marks.len(), 1);
    assert!(user_marks[0]["issued_before"].is_i64());
    // Anonymous logout is refused.
    let r = t
        .call(Method::POST, "/auth/logout", &As::anonymous(), None)
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "authentication_required")
    );
}

#[tokio::test]
async fn a_user_can_revoke_one_of_their_sessions_but_not_someone_elses() {
    let t = TestApp::new().await;
    let (a, who) = t.signup_login("olga@example.com").await;
    let b = t.login("olga@example.com", PASSWORD).await;
    let (_, other) = t.signup_login("pete@example.com").await;
    let sid_b = b["session_id"].as_str().unwrap();
    let r = t
        .call(
            Method::DELETE,
            &format!("/api/sessions/{sid_b}"),
            &other,
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::NOT_FOUND, "session_not_found")
    );
    let r = t
        .call(
            Method::DELETE,
            &format!("/api/sessions/{sid_b}"),
            &who,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        t.refresh(b["refresh_token"].as_str().unwrap())
            .await
            .error(),
        "session_revoked"
    );
    assert_eq!(
        t.refresh(a["refresh_token"].as_str().unwrap()).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn browsers_get_httponly_cookies_and_refresh_from_the_cookie() {
    let t = TestApp::new().await;
    t.signup_login("ruth@example.com").await;
    let mut req = t.signed(
        Method::POST,
        "/auth/login",
        &As::anonymous(),
        Some(json!({"email": "ruth@example.com", "password": PASSWORD})),
    );
    req.headers_mut()
        .insert("sec-fetch-mode", "cors".parse().unwrap());
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.get("access_token").is_none() && r.body.get("refresh_token").is_none(),
        "no tokens in a browser body"
    );
    let cookies: Vec<String> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let access = cookies
        .iter()
        .find(|c| c.starts_with("access_token="))
        .unwrap();
    let refresh = cookies
        .iter()
        .find(|c| c.starts_with("refresh_token="))
        .unwrap();
    for c in [access, refresh] {
        assert!(
            c.contains("HttpOnly") && c.contains("Secure") && c.contains("SameSite="),
            "{c}"
        );
    }
    assert!(
        refresh.contains("Path=/auth/refresh") && refresh.contains("SameSite=Strict"),
        "{refresh}"
    );
    assert!(
        access.contains("Path=/;") && access.contains("Max-Age=900"),
        "{access}"
    );
    let value = refresh.split(';').next().unwrap().to_owned();
    let mut req = t.signed(Method::POST, "/auth/refresh", &As::anonymous(), None);
    req.headers_mut()
        .insert("sec-fetch-mode", "cors".parse().unwrap());
    req.headers_mut()
        .insert("cookie", format!("theme=dark; {value}").parse().unwrap());
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.headers.get_all("set-cookie").iter().any(|v| v
        .to_str()
        .unwrap()
        .starts_with("refresh_token=")
        && !v.to_str().unwrap().starts_with(&format!("{value};"))));
}

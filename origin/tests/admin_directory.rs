//! The admin's user directory (GET /admin/users) and the user's own profile (GET /api/account):
//! what the account and admin pages read.

mod common;

use axum::http::StatusCode;
use common::{As, TestApp};
use serde_json::json;

fn admin() -> As {
    As::admin("usr_root")
}

fn emails(body: &serde_json::Value) -> Vec<String> {
    body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn search_finds_by_email_substring_or_exact_id_and_pages_in_email_order() {
    let t = TestApp::new().await;
    for e in [
        "carol@shop.example",
        "alice@shop.example",
        "bob@shop.example",
    ] {
        t.signup_login(e).await;
    }
    t.signup_login("dave@elsewhere.example").await;

    let r = t.get("/admin/users?q=SHOP", &admin()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        emails(&r.body),
        [
            "alice@shop.example",
            "bob@shop.example",
            "carol@shop.example"
        ]
    );
    assert!(r.body["next_after"].is_null());
    let alice = &r.body["users"][0];
    assert_eq!(alice["disabled"], false);
    assert_eq!(alice["roles"], json!(["user"]));
    assert!(alice["created_at"].as_i64().unwrap() > 1_600_000_000_000);

    // Two a page: the cursor is the last e-mail; the last page has no cursor.
    let r = t.get("/admin/users?q=shop&limit=2", &admin()).await;
    assert_eq!(emails(&r.body), ["alice@shop.example", "bob@shop.example"]);
    assert_eq!(r.body["next_after"], "bob@shop.example");
    let r = t
        .get(
            "/admin/users?q=shop&limit=2&after=bob@shop.example",
            &admin(),
        )
        .await;
    assert_eq!(emails(&r.body), ["carol@shop.example"]);
    assert!(r.body["next_after"].is_null());

    // An exact id finds its user; no text lists everyone.
    let id = alice["id"].as_str().unwrap();
    let r = t.get(&format!("/admin/users?q={id}"), &admin()).await;
    assert_eq!(emails(&r.body), ["alice@shop.example"]);
    let r = t.get("/admin/users", &admin()).await;
    assert_eq!(emails(&r.body).len(), 4);
}

#[tokio::test]
async fn like_wildcards_in_the_text_are_literal() {
    let t = TestApp::new().await;
    t.signup_login("under_score@example.com").await;
    t.signup_login("underxscore@example.com").await;
    let r = t.get("/admin/users?q=under_", &admin()).await;
    assert_eq!(emails(&r.body), ["under_score@example.com"]);
    let r = t.get("/admin/users?q=%25", &admin()).await;
    assert_eq!(emails(&r.body), Vec::<String>::new());
}

#[tokio::test]
async fn disabled_state_and_role_changes_show_in_the_directory() {
    let t = TestApp::new().await;
    let (body, _) = t.signup_login("zed@example.com").await;
    let id = body["user_id"].as_str().unwrap().to_owned();
    let r = t
        .call(
            axum::http::Method::POST,
            &format!("/admin/users/{id}/disable"),
            &admin(),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let r = t
        .call(
            axum::http::Method::PUT,
            &format!("/admin/users/{id}/roles/admin"),
            &admin(),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let r = t.get("/admin/users?q=zed", &admin()).await;
    assert_eq!(r.body["users"][0]["disabled"], true);
    assert_eq!(r.body["users"][0]["roles"], json!(["admin", "user"]));
}

#[tokio::test]
async fn bad_search_input_gets_a_precise_400_and_non_admins_a_403() {
    let t = TestApp::new().await;
    let (_, who) = t.signup_login("frank@example.com").await;
    let long = "a".repeat(255);
    for (uri, id) in [
        ("/admin/users?limit=0".to_owned(), "invalid_limit"),
        ("/admin/users?limit=101".to_owned(), "invalid_limit"),
        ("/admin/users?limit=ten".to_owned(), "invalid_limit"),
        (format!("/admin/users?q={long}"), "invalid_query"),
        ("/admin/users?q=a%0Ab".to_owned(), "invalid_query"),
        ("/admin/users?after=a%00".to_owned(), "invalid_cursor"),
    ] {
        let r = t.get(&uri, &admin()).await;
        assert_eq!(
            (r.status, r.error()),
            (StatusCode::BAD_REQUEST, id),
            "{uri}"
        );
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
    }
    let r = t.get("/admin/users?q=frank", &who).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::FORBIDDEN, "insufficient_permissions")
    );
    let r = t.get("/admin/users", &As::anonymous()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_profile_is_the_callers_own() {
    let t = TestApp::new().await;
    let (body, who) = t.signup_login("grace@example.com").await;
    let r = t.get("/api/account", &who).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["id"], body["user_id"]);
    assert_eq!(r.body["email"], "grace@example.com");
    assert_eq!(r.body["has_password"], true);
    assert!(r.body["email_verified_at"].is_null());
    assert!(r.body.get("password_hash").is_none());
    let r = t.get("/api/account", &As::anonymous()).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "authentication_required")
    );
    let r = t.get("/api/account", &As::user("usr_gone", "ses_x")).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::NOT_FOUND, "user_not_found")
    );
}

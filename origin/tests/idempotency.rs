//! Idempotency keys: replay returns the stored answer, another body → 422, in flight → 409.

mod common;

use axum::http::{Method, StatusCode};
use common::{As, TestApp};
use serde_json::json;

fn with_key(
    t: &TestApp,
    who: &As,
    key: &str,
    body: serde_json::Value,
) -> axum::http::Request<axum::body::Body> {
    let mut req = t.signed(Method::POST, "/admin/roles", who, Some(body));
    req.headers_mut()
        .insert("idempotency-key", key.parse().unwrap());
    req
}

#[tokio::test]
async fn a_replay_returns_the_stored_answer_and_runs_once() {
    let t = TestApp::new().await;
    let who = As::admin("usr_root");
    let first = t
        .send(with_key(&t, &who, "k-1", json!({"name": "ops"})))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = t
        .send(with_key(&t, &who, "k-1", json!({"name": "ops"})))
        .await;
    assert_eq!(
        again.status,
        StatusCode::CREATED,
        "not 409 role_exists: it did not run twice"
    );
    assert_eq!(again.raw, first.raw);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'role.create'")
        .fetch_one(&t.state.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
    // Without the key the second call really runs.
    let r = t.post("/admin/roles", &who, json!({"name": "ops"})).await;
    assert_eq!(r.error(), "role_exists");
    // Keys are per user: another admin's same key is independent.
    let r = t
        .send(with_key(
            &t,
            &As::admin("usr_other"),
            "k-1",
            json!({"name": "ops2"}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_refused() {
    let t = TestApp::new().await;
    let who = As::admin("usr_root");
    assert_eq!(
        t.send(with_key(&t, &who, "k-2", json!({"name": "a1"})))
            .await
            .status,
        StatusCode::CREATED
    );
    let r = t
        .send(with_key(&t, &who, "k-2", json!({"name": "a2"})))
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
    );
    let r = t
        .send(with_key(
            &t,
            &who,
            "bad key with spaces",
            json!({"name": "a3"}),
        ))
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::BAD_REQUEST, "invalid_idempotency_key")
    );
}

#[tokio::test]
async fn a_duplicate_while_the_first_is_in_flight_gets_409() {
    let t = TestApp::new().await;
    let who = As::admin("usr_root");
    let body = json!({"name": "slow"});
    // Reserve the key exactly as the middleware does at the start of the first request.
    let mut fp = b"POST /admin/roles\n".to_vec();
    fp.extend_from_slice(body.to_string().as_bytes());
    let hash = edge_auth_origin::domain::ids::sha256_hex(&fp);
    let begun = edge_auth_origin::domain::idempotency::begin(&t.state, "usr_root", "k-3", &hash)
        .await
        .unwrap();
    assert!(matches!(
        begun,
        edge_auth_origin::domain::idempotency::Begin::Fresh
    ));
    let r = t.send(with_key(&t, &who, "k-3", body.clone())).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::CONFLICT, "idempotency_request_in_progress")
    );
    // After 24 h the key is forgotten and the request runs.
    t.state.clock.advance_secs(24 * 3600 + 1);
    let r = t.send(with_key(&t, &who, "k-3", body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

#[tokio::test]
async fn failed_requests_are_not_stored_as_success_and_client_errors_replay() {
    let t = TestApp::new().await;
    let who = As::admin("usr_root");
    let r = t
        .send(with_key(&t, &who, "k-4", json!({"name": "Bad Name"})))
        .await;
    assert_eq!(r.error(), "invalid_role_name");
    let again = t
        .send(with_key(&t, &who, "k-4", json!({"name": "Bad Name"})))
        .await;
    assert_eq!(
        (again.status, again.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_role_name")
    );
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
}

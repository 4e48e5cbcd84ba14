//! RBAC: admin permission required, hierarchy with cycle refusal, separation of duty,
//! effective permissions in the token, revocation marks on role changes, audit pagination.

mod common;

use axum::http::{Method, StatusCode};
use common::{decode_claims, As, TestApp, PASSWORD};
use serde_json::json;

fn admin() -> As {
    As::admin("usr_root")
}

#[tokio::test]
async fn the_admin_api_requires_rbac_admin() {
    let t = TestApp::new().await;
    let (_, who) = t.signup_login("vic@example.com").await;
    for (m, uri) in [
        (Method::GET, "/admin/roles"),
        (Method::GET, "/admin/audit"),
        (Method::POST, "/admin/roles"),
    ] {
        let r = t
            .call(m.clone(), uri, &who, Some(json!({"name": "x"})))
            .await;
        assert_eq!(
            (r.status, r.error()),
            (StatusCode::FORBIDDEN, "insufficient_permissions"),
            "{m} {uri}"
        );
        let r = t
            .call(m, uri, &As::anonymous(), Some(json!({"name": "x"})))
            .await;
        assert_eq!(
            (r.status, r.error()),
            (StatusCode::UNAUTHORIZED, "authentication_required")
        );
    }
    let r = t.get("/admin/roles", &admin()).await;
    assert_eq!(r.status, StatusCode::OK);
    let names: Vec<&str> = r.body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "user"], "seeded roles");
}

#[tokio::test]
async fn role_hierarchy_cycles_are_refused() {
    let t = TestApp::new().await;
    for (name, parent) in [("a", None), ("b", Some("a")), ("c", Some("b"))] {
        let r = t
            .post(
                "/admin/roles",
                &admin(),
                json!({"name": name, "parent": parent}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    for (role, parent) in [("a", "c"), ("a", "b"), ("a", "a")] {
        let r = t
            .call(
                Method::PUT,
                &format!("/admin/roles/{role}/parent"),
                &admin(),
                Some(json!({"parent": parent})),
            )
            .await;
        assert_eq!(
            (r.status, r.error()),
            (StatusCode::CONFLICT, "role_cycle"),
            "{role} → {parent}"
        );
    }
    // A legal re-parenting works; the stored graph stayed acyclic.
    let r = t
        .call(
            Method::PUT,
            "/admin/roles/c/parent",
            &admin(),
            Some(json!({"parent": "a"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = t.post("/admin/roles", &admin(), json!({"name": "a"})).await;
    assert_eq!((r.status, r.error()), (StatusCode::CONFLICT, "role_exists"));
    let r = t
        .post("/admin/roles", &admin(), json!({"name": "Bad Name"}))
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_role_name")
    );
    let r = t
        .post(
            "/admin/roles",
            &admin(),
            json!({"name": "d", "parent": "zzz"}),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "parent_role_not_found")
    );
    let r = t
        .call(Method::DELETE, "/admin/roles/admin", &admin(), None)
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::CONFLICT, "role_protected")
    );
}

#[tokio::test]
async fn inherited_permissions_are_flattened_into_the_token() {
    let t = TestApp::new().await;
    let (_, who) = t.signup_login("walt@example.com").await;
    let uid = who.user.clone().unwrap();
    assert_eq!(
        t.post(
            "/admin/permissions",
            &admin(),
            json!({"name": "billing:read"})
        )
        .await
        .status,
        StatusCode::CREATED
    );
    assert_eq!(
        t.post(
            "/admin/permissions",
            &admin(),
            json!({"name": "billing:write"})
        )
        .await
        .status,
        StatusCode::CREATED
    );
    t.post("/admin/roles", &admin(), json!({"name": "billing-viewer"}))
        .await;
    t.post(
        "/admin/roles",
        &admin(),
        json!({"name": "billing-editor", "parent": "billing-viewer"}),
    )
    .await;
    for (role, perm) in [
        ("billing-viewer", "billing:read"),
        ("billing-editor", "billing:write"),
    ] {
        let r = t
            .call(
                Method::PUT,
                &format!("/admin/roles/{role}/permissions/{perm}"),
                &admin(),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    }
    let r = t
        .call(
            Method::PUT,
            &format!("/admin/users/{uid}/roles/billing-editor"),
            &admin(),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let login = t.login("walt@example.com", PASSWORD).await;
    let c = decode_claims(login["access_token"].as_str().unwrap());
    assert_eq!(
        c["roles"],
        json!(["billing-editor", "billing-viewer", "user"])
    );
    assert_eq!(
        c["permissions"],
        json!(["billing:read", "billing:write", "profile:read"])
    );
    // The assignment voided the user's older tokens at the edge.
    let feed = t.feed(0).await;
    assert!(feed["revocations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "user" && e["user"] == uid.as_str()));
    let r = t.get(&format!("/admin/users/{uid}"), &admin()).await;
    assert_eq!(
        r.body["effective"]["permissions"],
        json!(["billing:read", "billing:write", "profile:read"])
    );
    // Unknown targets.
    let r = t
        .call(
            Method::PUT,
            &format!("/admin/users/{uid}/roles/nope"),
            &admin(),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::NOT_FOUND, "role_not_found")
    );
    let r = t
        .call(
            Method::PUT,
            "/admin/users/usr_nope/roles/user",
            &admin(),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::NOT_FOUND, "user_not_found")
    );
    let r = t
        .call(
            Method::PUT,
            "/admin/roles/user/permissions/nope",
            &admin(),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::NOT_FOUND, "permission_not_found")
    );
}

#[tokio::test]
async fn separation_of_duty_refuses_exclusive_roles_even_when_inherited() {
    let t = TestApp::new().await;
    let (_, who) = t.signup_login("xena@example.com").await;
    let uid = who.user.clone().unwrap();
    t.post(
        "/admin/roles",
        &admin(),
        json!({"name": "payments-requester"}),
    )
    .await;
    t.post(
        "/admin/roles",
        &admin(),
        json!({"name": "payments-approver"}),
    )
    .await;
    t.post(
        "/admin/roles",
        &admin(),
        json!({"name": "senior-approver", "parent": "payments-approver"}),
    )
    .await;
    let r = t
        .post(
            "/admin/sod",
            &admin(),
            json!({"roles": ["payments-requester", "payments-approver"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = t
        .post("/admin/sod", &admin(), json!({"roles": ["user", "user"]}))
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "sod_same_role")
    );
    assert_eq!(
        t.call(
            Method::PUT,
            &format!("/admin/users/{uid}/roles/payments-requester"),
            &admin(),
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    let r = t
        .call(
            Method::PUT,
            &format!("/admin/users/{uid}/roles/payments-approver"),
            &admin(),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::CONFLICT, "separation_of_duty")
    );
    let r = t
        .call(
            Method::PUT,
            &format!("/admin/users/{uid}/roles/senior-approver"),
            &admin(),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::CONFLICT, "separation_of_duty"),
        "inherited counts"
    );
    let roles: Vec<String> =
        sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
            .bind(&uid)
            .fetch_all(&t.state.db.pool)
            .await
            .unwrap();
    assert_eq!(
        roles,
        ["payments-requester", "user"],
        "nothing half-assigned"
    );
    // Removing the pair lifts the constraint.
    let r = t
        .call(
            Method::DELETE,
            "/admin/sod/payments-approver/payments-requester",
            &admin(),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        t.call(
            Method::PUT,
            &format!("/admin/users/{uid}/roles/payments-approver"),
            &admin(),
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn the_audit_log_records_changes_and_paginates() {
    let t = TestApp::new().await;
    for i in 0..5 {
        t.post("/admin/roles", &admin(), json!({"name": format!("r{i}")}))
            .await;
    }
    let r = t
        .get("/admin/audit?limit=2&action=role.create", &admin())
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let page1 = r.body["entries"].as_array().unwrap().clone();
    assert_eq!(page1.len(), 2);
    assert_eq!(page1[0]["target"], "r4", "newest first");
    assert_eq!(page1[0]["actor"], "usr_root");
    assert_eq!(page1[0]["request_id"], "req-test-1");
    let next = r.body["next_before"].as_str().unwrap();
    let r = t
        .get(
            &format!("/admin/audit?limit=2&action=role.create&before={next}"),
            &admin(),
        )
        .await;
    let page2: Vec<&str> = r.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    assert_eq!(page2, ["r2", "r1"]);
    let r = t.get("/admin/audit?limit=0", &admin()).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::BAD_REQUEST, "invalid_limit")
    );
    let r = t.get("/admin/audit?before=abc", &admin()).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::BAD_REQUEST, "invalid_cursor")
    );
}

#[tokio::test]
async fn role_changes_need_a_recent_authentication_of_the_admin() {
    let t = TestApp::new().await;
    let (_, target) = t.signup_login("target-fresh@example.com").await;
    let uid = target.user.clone().unwrap();
    let mut admin = As::admin("usr_fresh_admin");
    admin.auth_time = Some(t.state.clock.now_ms() / 1000 - 3600);
    for (method, uri) in [
        (Method::PUT, format!("/admin/users/{uid}/roles/admin")),
        (Method::DELETE, format!("/admin/users/{uid}/roles/user")),
        (
            Method::PUT,
            "/admin/roles/user/permissions/rbac:admin".to_owned(),
        ),
        (
            Method::DELETE,
            "/admin/roles/user/permissions/profile:read".to_owned(),
        ),
    ] {
        let r = t.call(method.clone(), &uri, &admin, None).await;
        assert_eq!(
            (r.status, r.error()),
            (StatusCode::UNAUTHORIZED, "insufficient_user_authentication"),
            "{method} {uri}"
        );
        assert!(r
            .header("www-authenticate")
            .unwrap()
            .contains("max_age=300"));
    }
    admin.auth_time = Some(t.state.clock.now_ms() / 1000 - 10);
    let r = t
        .call(
            Method::PUT,
            &format!("/admin/users/{uid}/roles/admin"),
            &admin,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
}

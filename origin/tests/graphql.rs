//! `POST /graphql` in-process (`oneshot`), on SQLite or on the PostgreSQL of
//! `TEST_DATABASE_URL`: the caller comes from the envelope only, admin fields refuse a
//! non-admin one by one, every limit is refused just over and accepted just under, batching
//! buys no budget, and the checked-in `schema.graphql` is the code's.

mod common;

use axum::http::StatusCode;
use common::{As, Resp, TestApp};
use edge_auth_origin::domain::{accounts, rbac, Ctx};
use edge_auth_origin::graphql::limits::GraphqlSettings;
use serde_json::{json, Value};

async fn gql(t: &TestApp, who: &As, body: Value) -> Resp {
    t.post("/graphql", who, body).await
}

async fn q(t: &TestApp, who: &As, query: &str) -> Resp {
    gql(t, who, json!({ "query": query })).await
}

/// The `extensions.code` of every error, in order.
fn codes(r: &Resp) -> Vec<String> {
    r.body["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Refused before it ran, with this code.
fn assert_refused(r: &Resp, code: &str) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert_eq!(codes(r), [code], "{:?}", r.body);
    assert!(r.body.get("data").is_none(), "{:?}", r.body);
}

/// Ran without any error.
fn assert_ok(r: &Resp) {
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body.get("errors").is_none(), "{:?}", r.body);
}

/// `n` accounts (ids ascending = creation order is not guaranteed; callers sort), each with the
/// `user` role, every third also `admin`.
async fn seed_users(t: &TestApp, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let roles: &[&str] = if i % 3 == 0 {
            &["user", "admin"]
        } else {
            &["user"]
        };
        let u = accounts::create_user(
            &t.state,
            &Ctx::cli(),
            &format!("u{i:03}@example.com"),
            "!",
            roles,
        )
        .await
        .expect("create user");
        ids.push(u.id);
    }
    ids.sort();
    ids
}

#[tokio::test]
async fn me_answers_from_the_verified_identity_and_the_users_own_records() {
    let t = TestApp::new().await;
    let (_, who) = t.signup_login("gq-me@example.com").await;
    let r = q(
        &t,
        &who,
        "{ me { id email sessionId roles permissions sessions { id current } signInMethods { kind enabled } } }",
    )
    .await;
    assert_ok(&r);
    let me = &r.body["data"]["me"];
    assert_eq!(me["id"], who.user.clone().unwrap());
    assert_eq!(me["email"], "gq-me@example.com");
    assert_eq!(me["sessionId"], who.session.clone().unwrap());
    assert_eq!(me["permissions"], json!(who.permissions));
    let sessions = me["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(
        me["signInMethods"],
        json!([{"kind": "password", "enabled": true}, {"kind": "totp", "enabled": false}])
    );
    // Anonymous (no user in the envelope): the same 401 as every signed-in route.
    let r = q(&t, &As::anonymous(), "{ me { id } }").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error(), "authentication_required");
}

#[tokio::test]
async fn a_user_without_the_admin_permission_gets_an_authorization_error_per_field_not_the_data() {
    let t = TestApp::new().await;
    seed_users(&t, 3).await;
    let (_, who) = t.signup_login("gq-user@example.com").await;
    let r = q(
        &t,
        &who,
        "{ me { id } users { nodes { email } } user(id: \"x\") { email } roles { name } \
         permissions { name } auditLog { nodes { action } } webhookEvents { nodes { id } } }",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let data = &r.body["data"];
    assert_eq!(data["me"]["id"], who.user.clone().unwrap());
    for f in [
        "users",
        "user",
        "roles",
        "permissions",
        "auditLog",
        "webhookEvents",
    ] {
        // Present and null (not left out), as the GraphQL spec has it for a failed field.
        assert_eq!(data.get(f), Some(&Value::Null), "{f} must not leak");
    }
    let errors = r.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 6, "{errors:?}");
    let mut paths: Vec<&str> = errors
        .iter()
        .map(|e| {
            assert_eq!(e["extensions"]["code"], "insufficient_permissions", "{e}");
            assert_eq!(e["extensions"]["status"], 403, "{e}");
            e["path"][0].as_str().unwrap()
        })
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "auditLog",
            "permissions",
            "roles",
            "user",
            "users",
            "webhookEvents"
        ]
    );
    // No other account's address anywhere in the answer.
    assert!(!String::from_utf8_lossy(&r.raw).contains("u000@example.com"));
    // A mutation is refused the same way, and changes nothing.
    let target = who.user.clone().unwrap();
    let r = q(
        &t,
        &who,
        &format!("mutation {{ assignRole(userId: \"{target}\", role: \"admin\") }}"),
    )
    .await;
    assert_eq!(codes(&r), ["insufficient_permissions"]);
    assert_eq!(
        r.body["data"].get("assignRole"),
        Some(&Value::Null),
        "{:?}",
        r.body
    );
    let mut conn = t.state.db.pool.acquire().await.unwrap();
    assert_eq!(
        rbac::assigned_roles(&mut conn, &target).await.unwrap(),
        ["user"]
    );
}

#[tokio::test]
async fn an_admin_reads_users_with_roles_permissions_and_sessions_and_pages_through_them() {
    let t = TestApp::new().await;
    let ids = seed_users(&t, 7).await;
    let admin = As::admin("usr_root");
    let query = "query($after: String) { users(first: 4, after: $after) { nextAfter nodes { \
                 id email disabled roles { name parent { name } permissions } effectiveRoles \
                 permissions sessions { id } } } }";
    let r = gql(&t, &admin, json!({ "query": query })).await;
    assert_ok(&r);
    let page = &r.body["data"]["users"];
    let nodes = page["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4);
    let got: Vec<&str> = nodes.iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(got, ids[..4].iter().map(String::as_str).collect::<Vec<_>>());
    for n in nodes {
        let roles: Vec<&str> = n["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        let perms: Vec<&str> = n["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        if roles.contains(&"admin") {
            assert!(perms.contains(&"rbac:admin"), "{n}");
            let admin_role = n["roles"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["name"] == "admin")
                .unwrap();
            assert_eq!(admin_role["parent"]["name"], "user");
            assert!(admin_role["permissions"]
                .as_array()
                .unwrap()
                .contains(&json!("rbac:admin")));
        } else {
            assert_eq!(roles, ["user"]);
            assert_eq!(perms, ["profile:read"], "{n}");
            assert_eq!(n["effectiveRoles"], json!(["user"]));
        }
    }
    let after = page["nextAfter"].as_str().unwrap();
    let r = gql(
        &t,
        &admin,
        json!({ "query": query, "variables": { "after": after } }),
    )
    .await;
    assert_ok(&r);
    let rest: Vec<&str> = r.body["data"]["users"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    // usr_root is not an account here: the 7 seeded ones, 4 then 3.
    assert_eq!(
        rest,
        ids[4..].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(r.body["data"]["users"]["nextAfter"], Value::Null);
    // Out-of-range pages are refused by the resolver with the REST listing's reason id.
    let r = q(&t, &admin, "{ users(first: 0) { nodes { id } } }").await;
    assert_eq!(codes(&r), ["invalid_limit"]);
}

#[tokio::test]
async fn admin_mutations_and_the_audit_log_go_through_the_domain() {
    let t = TestApp::new().await;
    let target = &accounts::create_user(&t.state, &Ctx::cli(), "gq-t@example.com", "!", &["user"])
        .await
        .unwrap()
        .id;
    let admin = As::admin("usr_root");
    let r = q(
        &t,
        &admin,
        &format!("mutation {{ a: assignRole(userId: \"{target}\", role: \"admin\") b: assignRole(userId: \"{target}\", role: \"admin\") }}"),
    )
    .await;
    assert_ok(&r);
    // The first changed it, the second found it done (mutations run in order).
    let changed = [
        r.body["data"]["a"].as_bool().unwrap(),
        r.body["data"]["b"].as_bool().unwrap(),
    ];
    assert_eq!(changed, [true, false]);
    let r = q(
        &t,
        &admin,
        "mutation { assignRole(userId: \"usr_nobody\", role: \"admin\") }",
    )
    .await;
    assert_eq!(codes(&r), ["user_not_found"]);
    let r = q(&t, &admin, "{ auditLog(first: 5, action: \"role.assign\") { nextBefore nodes { action target actor requestId } } }").await;
    assert_ok(&r);
    let nodes = r.body["data"]["auditLog"]["nodes"].as_array().unwrap();
    assert!(
        nodes
            .iter()
            .any(|n| n["target"] == target.as_str() && n["actor"] == "usr_root"),
        "{nodes:?}"
    );
    let r = q(
        &t,
        &admin,
        "{ auditLog(before: \"nope\") { nodes { id } } }",
    )
    .await;
    assert_eq!(codes(&r), ["invalid_cursor"]);
    // webhooks:admin is its own power: rbac:admin alone does not read webhook events.
    let r = q(
        &t,
        &admin,
        "{ webhookEvents(status: DEAD) { nodes { id } } }",
    )
    .await;
    assert_eq!(codes(&r), ["insufficient_permissions"]);
    let hooks = As {
        permissions: vec!["webhooks:admin".into()],
        ..As::admin("usr_hooks")
    };
    let r = q(
        &t,
        &hooks,
        "{ webhookEvents(status: DEAD, first: 10) { nextBefore nodes { id status } } }",
    )
    .await;
    assert_ok(&r);
    assert_eq!(r.body["data"]["webhookEvents"]["nodes"], json!([]));
}

#[tokio::test]
async fn log_in_and_otp_are_not_graphql_operations_and_a_batch_of_100_attempts_is_refused_whole() {
    let t = TestApp::new().await;
    t.signup_login("gq-victim@example.com").await;
    let (_, who) = t.signup_login("gq-attacker@example.com").await;
    let attempt = |i: usize| {
        json!({ "query": format!(
            "mutation {{ login(email: \"gq-victim@example.com\", password: \"guess {i}\") {{ accessToken }} }}"
        ) })
    };
    let batch: Vec<Value> = (0..100).map(attempt).collect();
    let r = gql(&t, &who, Value::Array(batch)).await;
    assert_refused(&r, "batch_too_large");
    // Alone, it is not an operation of this schema (and no field name is suggested).
    let r = gql(&t, &who, attempt(0)).await;
    assert_eq!(codes(&r), ["invalid_query"], "{:?}", r.body);
    assert!(
        !r.raw.windows(12).any(|w| w == b"Did you mean"),
        "{:?}",
        r.body
    );
    // Nothing reached the log-in: no failure was counted for the victim.
    let audit = t.audit_actions().await;
    assert!(
        !audit.iter().any(|a| a.starts_with("login.fail")),
        "{audit:?}"
    );
    for f in ["verifyOtp", "loginMfa", "stepUp", "signup", "refresh"] {
        let r = q(&t, &who, &format!("mutation {{ {f} }}")).await;
        assert_eq!(codes(&r), ["invalid_query"], "{f}: {:?}", r.body);
    }
}

#[tokio::test]
async fn depth_is_counted_with_fragments_expanded_whatever_the_fragment_is_called() {
    // Depth 4: users > nodes > roles > name.
    let under = "{ users(first: 1) { nodes { roles { name } } } }";
    let over = "{ users(first: 1) { nodes { roles { parent { name } } } } }";
    let t = TestApp::with_env(&[("GRAPHQL_MAX_DEPTH", "4")]).await;
    let admin = As::admin("usr_root");
    assert_ok(&q(&t, &admin, under).await);
    assert_refused(&q(&t, &admin, over).await, "depth_limit_exceeded");
    // The graphql-armor#823 bypass: a fragment named `__schema` is expanded like any other.
    let bypass = "query { users(first: 1) { ...__schema } } \
                  fragment __schema on UserPage { nodes { roles { parent { name } } } }";
    assert_refused(&q(&t, &admin, bypass).await, "depth_limit_exceeded");
    let inline = "{ users(first: 1) { ... on UserPage { nodes { roles { parent { name } } } } } }";
    assert_refused(&q(&t, &admin, inline).await, "depth_limit_exceeded");
    let nested = "query { users(first: 1) { ...A } } fragment A on UserPage { nodes { ...B } } \
                  fragment B on User { roles { parent { name } } }";
    assert_refused(&q(&t, &admin, nested).await, "depth_limit_exceeded");
    let cycle = "query { me { ...A } } fragment A on Me { ...B } fragment B on Me { ...A }";
    assert_refused(&q(&t, &admin, cycle).await, "fragment_cycle");
    // With one more level allowed the deeper query runs.
    let t = TestApp::with_env(&[("GRAPHQL_MAX_DEPTH", "5")]).await;
    assert_ok(&q(&t, &admin, over).await);
    assert_ok(&q(&t, &admin, bypass).await);
}

#[tokio::test]
async fn complexity_weighs_list_fields_by_first_including_variables_and_sums_a_batch() {
    // users(first: n) { nodes { id } } costs 1 + n × (1 + 1).
    let t =
        TestApp::with_env(&[("GRAPHQL_MAX_COMPLEXITY", "21"), ("GRAPHQL_MAX_BATCH", "3")]).await;
    let admin = As::admin("usr_root");
    assert_ok(&q(&t, &admin, "{ users(first: 10) { nodes { id } } }").await);
    assert_refused(
        &q(&t, &admin, "{ users(first: 11) { nodes { id } } }").await,
        "complexity_limit_exceeded",
    );
    let with_var = "query($n: Int!) { users(first: $n) { nodes { id } } }";
    assert_ok(
        &gql(
            &t,
            &admin,
            json!({ "query": with_var, "variables": { "n": 10 } }),
        )
        .await,
    );
    assert_refused(
        &gql(
            &t,
            &admin,
            json!({ "query": with_var, "variables": { "n": 11 } }),
        )
        .await,
        "complexity_limit_exceeded",
    );
    // Without `first`, the default page (50) is what it weighs.
    assert_refused(
        &q(&t, &admin, "{ users { nodes { id } } }").await,
        "complexity_limit_exceeded",
    );
    // Two requests of 11 each in one batch: 22 > 21, though each alone would pass.
    let one = json!({ "query": "{ users(first: 5) { nodes { id } } }" });
    assert_ok(&gql(&t, &admin, json!([one])).await);
    assert_refused(
        &gql(&t, &admin, json!([one, one])).await,
        "complexity_limit_exceeded",
    );
}

#[tokio::test]
async fn aliases_are_limited_per_request_and_an_alias_flood_is_refused() {
    let t = TestApp::with_env(&[("GRAPHQL_MAX_ALIASES", "3")]).await;
    let who = As::admin("usr_root");
    assert_ok(&q(&t, &who, "{ a: __typename b: __typename c: __typename }").await);
    assert_refused(
        &q(
            &t,
            &who,
            "{ a: __typename b: __typename c: __typename d: __typename }",
        )
        .await,
        "alias_limit_exceeded",
    );
    // Through a fragment spread twice: 2 × 2 = 4.
    assert_refused(
        &q(&t, &who, "{ ...F me { ...M } } fragment F on Query { a: __typename b: __typename } fragment M on Me { c: id d: id }").await,
        "alias_limit_exceeded",
    );
    // The graphql-armor#767 flood with the defaults: 500 aliased `__typename`s in 8 KiB.
    let t = TestApp::new().await;
    let flood: String = (0..500).map(|i| format!("a{i}:__typename ")).collect();
    let r = q(&t, &who, &format!("{{ {flood}}}")).await;
    assert_refused(&r, "alias_limit_exceeded");
    // Nested, where the root-field limit does not see it.
    let flood: String = (0..500).map(|i| format!("a{i}:id ")).collect();
    let r = q(&t, &who, &format!("{{ me {{ {flood}}} }}")).await;
    assert_refused(&r, "alias_limit_exceeded");
}

#[tokio::test]
async fn root_fields_batch_size_and_document_size_are_limited() {
    let t = TestApp::with_env(&[
        ("GRAPHQL_MAX_ROOT_FIELDS", "2"),
        ("GRAPHQL_MAX_BATCH", "2"),
        ("GRAPHQL_MAX_DOCUMENT_BYTES", "256"),
    ])
    .await;
    let who = As::admin("usr_root");
    assert_ok(&q(&t, &who, "{ me { id } __typename }").await);
    assert_refused(
        &q(&t, &who, "{ me { id } __typename roles { name } }").await,
        "root_field_limit_exceeded",
    );
    // Root fields count over the batch too: 1 + 1 passes, 1 + 2 does not.
    let one = json!({ "query": "{ me { id } }" });
    let two = json!({ "query": "{ me { id } __typename }" });
    let r = gql(&t, &who, json!([one, one])).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.as_array().map(Vec::len), Some(2), "{:?}", r.body);
    assert_refused(
        &gql(&t, &who, json!([one, two])).await,
        "root_field_limit_exceeded",
    );
    assert_refused(
        &gql(&t, &who, json!([one, one, one])).await,
        "batch_too_large",
    );
    // Document size: 256 bytes pass, 257 do not.
    let pad = |n: usize| {
        let base = "{ me { id } }";
        format!("{base}{}", " ".repeat(n - base.len()))
    };
    assert_ok(&q(&t, &who, &pad(256)).await);
    assert_refused(&q(&t, &who, &pad(257)).await, "document_too_large");
    // Batching off.
    let t = TestApp::with_env(&[("GRAPHQL_MAX_BATCH", "0")]).await;
    assert_ok(&gql(&t, &who, one.clone()).await);
    assert_refused(&gql(&t, &who, json!([one])).await, "batching_disabled");
}

#[tokio::test]
async fn introspection_is_off_unless_enabled_and_then_errors_suggest_nothing() {
    let t = TestApp::new().await;
    let who = As::admin("usr_root");
    assert_refused(
        &q(&t, &who, "{ __schema { queryType { name } } }").await,
        "introspection_disabled",
    );
    assert_refused(
        &q(&t, &who, "{ __type(name: \"User\") { name } }").await,
        "introspection_disabled",
    );
    // Hidden in a fragment (named like anything): still introspection.
    assert_refused(
        &q(
            &t,
            &who,
            "{ ...X } fragment X on Query { __schema { types { name } } }",
        )
        .await,
        "introspection_disabled",
    );
    let r = q(&t, &who, "{ usrs { nodes { id } } }").await;
    assert_eq!(codes(&r), ["invalid_query"]);
    let msg = r.body["errors"][0]["message"].as_str().unwrap();
    assert!(!msg.contains("Did you mean"), "{msg}");
    assert!(!msg.contains("users"), "{msg}");
    // Enabled: introspection answers (within the same limits) and suggestions come back.
    let t = TestApp::with_env(&[("GRAPHQL_INTROSPECTION", "true")]).await;
    let r = q(&t, &who, "{ __schema { queryType { name } } }").await;
    assert_ok(&r);
    assert_eq!(r.body["data"]["__schema"]["queryType"]["name"], "Query");
    let r = q(&t, &who, "{ usrs { nodes { id } } }").await;
    assert!(
        r.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("users"),
        "{:?}",
        r.body
    );
}

#[tokio::test]
async fn a_query_running_past_the_timeout_is_stopped() {
    let query =
        "{ users(first: 20) { nodes { roles { parent { permissions } } sessions { id } } } }";
    let who = As::admin("usr_root");
    let t = TestApp::with_env(&[("GRAPHQL_TIMEOUT_MS", "5000")]).await;
    seed_users(&t, 5).await;
    assert_ok(&q(&t, &who, query).await);
    // 1 ms: the DataLoader alone waits 1 ms per level to gather a batch, and there are three.
    let t = TestApp::with_env(&[("GRAPHQL_TIMEOUT_MS", "1")]).await;
    seed_users(&t, 5).await;
    let r = q(&t, &who, query).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(codes(&r), ["query_timeout"], "{:?}", r.body);
}

#[tokio::test]
async fn transport_errors_are_problems() {
    let t = TestApp::new().await;
    let who = As::admin("usr_root");
    let r = gql(&t, &who, json!({ "nope": 1 })).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::BAD_REQUEST, "malformed_request")
    );
    let r = gql(&t, &who, json!({ "query": "  " })).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::BAD_REQUEST, "malformed_request")
    );
    let r = gql(&t, &who, json!([])).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::BAD_REQUEST, "malformed_request")
    );
    let r = q(&t, &who, "{ me { id ").await;
    assert_refused(&r, "graphql_parse_failed");
    let r = t
        .send({
            let mut req = t.signed(
                axum::http::Method::POST,
                "/graphql",
                &who,
                Some(json!({ "query": "{ me { id } }" })),
            );
            req.headers_mut()
                .insert("content-type", "text/plain".parse().unwrap());
            req
        })
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    // Larger than a full batch of full documents: not even read.
    let big = "x".repeat(GraphqlSettings::default().max_body_bytes() + 1);
    let r = gql(&t, &who, json!({ "query": big })).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::PAYLOAD_TOO_LARGE, "request_too_large")
    );
}

#[test]
fn the_checked_in_schema_is_the_codes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let sdl = edge_auth_origin::graphql::schema::sdl();
    if std::env::var("UPDATE_SCHEMA").as_deref() == Ok("1") {
        std::fs::write(path, &sdl).unwrap();
    }
    let checked_in = std::fs::read_to_string(path).expect("origin/schema.graphql");
    assert_eq!(
        checked_in, sdl,
        "origin/schema.graphql differs from the code: UPDATE_SCHEMA=1 cargo test -p edge-auth-origin --test graphql"
    );
}

/// Every field returning a list of objects is weighed by the complexity check.
#[test]
fn every_object_list_field_has_a_complexity_weight() {
    let sdl = edge_auth_origin::graphql::schema::sdl();
    let objects: Vec<&str> = sdl
        .lines()
        .filter_map(|l| l.strip_prefix("type "))
        .map(|l| l.split([' ', '{']).next().unwrap())
        .collect();
    let weighted: Vec<&str> = edge_auth_origin::graphql::limits::LIST_FIELDS
        .iter()
        .map(|(n, _)| *n)
        .collect();
    let mut checked = 0;
    for line in sdl.lines().map(str::trim) {
        let Some((name, ty)) = line.split_once(':') else {
            continue;
        };
        let name = name.split('(').next().unwrap().trim();
        let ty = ty.rsplit(':').next().unwrap().trim();
        if let Some(inner) = ty.strip_prefix('[') {
            let inner = inner.trim_end_matches(['!', ']']).trim_end_matches('!');
            if objects.contains(&inner) {
                checked += 1;
                assert!(
                    weighted.contains(&name),
                    "{name}: [{inner}] has no weight in LIST_FIELDS"
                );
            }
        }
    }
    assert!(checked >= 5, "{checked}");
}

//! The retention sweeper deletes exactly what is past its retention, on SQLite and PostgreSQL;
//! and account deletion removes or anonymises personal data.

mod common;

use std::collections::HashMap;

use axum::http::StatusCode;
use common::{As, TestApp, PASSWORD};
use edge_auth_origin::config::Config;
use edge_auth_origin::domain::retention::{self, Swept};
use edge_auth_origin::domain::{accounts, Ctx};
use serde_json::json;
use sqlx::AnyPool;

const DAY: i64 = 24 * 3600 * 1000;

async fn exec(pool: &AnyPool, sql: &str, args: &[&dyn ToArg]) {
    let mut q = sqlx::query(sql);
    for a in args {
        q = a.bind_to(q);
    }
    q.execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

type Q<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

trait ToArg: Sync {
    fn bind_to<'q>(&self, q: Q<'q>) -> Q<'q>;
}
impl ToArg for i64 {
    fn bind_to<'q>(&self, q: Q<'q>) -> Q<'q> {
        q.bind(*self)
    }
}
impl ToArg for &str {
    fn bind_to<'q>(&self, q: Q<'q>) -> Q<'q> {
        q.bind(self.to_string())
    }
}

async fn ids(pool: &AnyPool, sql: &str) -> Vec<String> {
    let mut v: Vec<String> = sqlx::query_scalar(sql).fetch_all(pool).await.unwrap();
    v.sort();
    v
}

#[tokio::test]
async fn the_sweeper_deletes_exactly_what_is_past_retention() {
    let t = TestApp::new().await;
    let core = &t.state.core;
    let pool = &core.db.pool;
    let u = accounts::signup(core, &Ctx::default(), "keep@example.com", PASSWORD.into())
        .await
        .unwrap()
        .id;
    let now = core.clock.now_ms();
    let uid: &str = &u;
    // Sessions (30 days after they ended) and their refresh tokens.
    for (id, expires, revoked) in [
        ("ses_expired_31d", now - 31 * DAY, None),
        ("ses_revoked_31d", now + DAY, Some(now - 31 * DAY)),
        ("ses_revoked_29d", now + DAY, Some(now - 29 * DAY)),
        ("ses_expired_29d", now - 29 * DAY, None),
        ("ses_live", now + DAY, None),
    ] {
        exec(
            pool,
            "INSERT INTO sessions (id, user_id, user_agent, ip, created_at, last_used_at, expires_at, revoked_at, revoked_reason, auth_time, amr) \
             VALUES ($1, $2, '', '', $3, $3, $4, $5, NULL, $3, 'pwd')",
            &[&id, &uid, &(now - 60 * DAY), &expires, &revoked.unwrap_or(-1)],
        )
        .await;
        exec(
            pool,
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, NULL)",
            &[&format!("rt_{id}").as_str(), &id, &(now - 60 * DAY), &expires],
        )
        .await;
    }
    exec(
        pool,
        "UPDATE sessions SET revoked_at = NULL WHERE revoked_at = -1",
        &[],
    )
    .await;
    // Revocation entries: past their `until` or not.
    for (sid, until) in [("ses_gone", now - 1000), ("ses_matters", now + 60_000)] {
        exec(
            pool,
            "INSERT INTO revocations (kind, session_id, user_id, issued_before, relevant_until, created_at) VALUES ('session', $1, $2, $3, $4, $3)",
            &[&sid, &uid, &(now - 2 * DAY), &until],
        )
        .await;
    }
    // Mailed links and MFA challenges: 7 days after they were spent or expired.
    for (hash, used, expires) in [
        ("mt_used_8d", now - 8 * DAY, now + DAY),
        ("mt_used_6d", now - 6 * DAY, now + DAY),
        ("mt_expired_8d", -1, now - 8 * DAY),
        ("mt_live", -1, now + DAY),
    ] {
        exec(
            pool,
            "INSERT INTO mail_tokens (token_hash, purpose, user_id, email, created_at, expires_at, used_at) VALUES ($1, 'password_reset', $2, 'keep@example.com', $3, $4, $5)",
            &[&hash, &uid, &(now - 9 * DAY), &expires, &used],
        )
        .await;
        exec(
            pool,
            "INSERT INTO mfa_challenges (token_hash, user_id, amr, created_at, expires_at, used_at, failures) VALUES ($1, $2, 'pwd', $3, $4, $5, 0)",
            &[&hash, &uid, &(now - 9 * DAY), &expires, &used],
        )
        .await;
    }
    exec(
        pool,
        "UPDATE mail_tokens SET used_at = NULL WHERE used_at = -1",
        &[],
    )
    .await;
    exec(
        pool,
        "UPDATE mfa_challenges SET used_at = NULL WHERE used_at = -1",
        &[],
    )
    .await;
    // Passkey ceremonies: expired ones go at once, whatever the token retention.
    for (id, expires) in [("wc_expired", now - 1000), ("wc_live", now + 60_000)] {
        exec(
            pool,
            "INSERT INTO webauthn_challenges (id_hash, kind, user_id, bound_to, state, created_at, expires_at, used_at) VALUES ($1, 'login', NULL, NULL, '{}', $2, $3, NULL)",
            &[&id, &(now - 200_000), &expires],
        )
        .await;
    }
    // Throttle entries and idempotency keys.
    for (key, updated) in [
        ("old@example.com", now - 9 * DAY),
        ("recent@example.com", now - 1000),
    ] {
        exec(
            pool,
            "INSERT INTO login_throttle (email, failures, locked_until, updated_at) VALUES ($1, 3, $2, $2)",
            &[&key, &updated],
        )
        .await;
    }
    for (key, created) in [
        ("idem_old", now - 8 * DAY - DAY - 1000),
        ("idem_recent", now - 3_600_000),
    ] {
        exec(
            pool,
            "INSERT INTO idempotency_keys (scope, key, request_hash, status, content_type, body, created_at) VALUES ($1, $2, 'h', 200, NULL, NULL, $3)",
            &[&uid, &key, &created],
        )
        .await;
    }
    // Webhook events: processed ones 90 days after they finished; never a dead one.
    for (event, status, finished) in [
        ("evt_done_91d", "done", now - 91 * DAY),
        ("evt_ignored_91d", "ignored", now - 91 * DAY),
        ("evt_done_89d", "done", now - 89 * DAY),
        ("evt_dead_200d", "dead", now - 200 * DAY),
    ] {
        let row: i64 = sqlx::query_scalar(
            "INSERT INTO webhook_events (provider, event_id, event_type, payload, received_at, status, next_attempt_at, finished_at) \
             VALUES ('stripe', $1, 'x', $2, $3, $4, $3, $3) RETURNING id",
        )
        .bind(event)
        .bind(b"{}".to_vec())
        .bind(finished)
        .bind(status)
        .fetch_one(pool)
        .await
        .unwrap();
        exec(
            pool,
            "INSERT INTO webhook_attempts (event_row, attempt, lease, started_at) VALUES ($1, 1, 'l', $2)",
            &[&row, &finished],
        )
        .await;
    }
    // Audit entries: kept a year.
    for (action, at) in [
        ("test.old", now - 366 * DAY),
        ("test.recent", now - 364 * DAY),
    ] {
        exec(
            pool,
            "INSERT INTO audit_log (at, actor, action, target, detail, request_id) VALUES ($1, 'x', $2, NULL, '{}', NULL)",
            &[&at, &action],
        )
        .await;
    }

    let s = retention::sweep(core, &Ctx::scheduler()).await.unwrap();
    assert_eq!(
        s,
        Swept {
            sessions: 2,
            refresh_tokens: 2,
            revocations: 1,
            mail_tokens: 2,
            mfa_challenges: 2,
            webauthn_challenges: 1,
            login_throttle: 1,
            idempotency_keys: 1,
            webhook_events: 2,
            audit_entries: 1,
        }
    );
    assert_eq!(
        ids(pool, "SELECT id FROM sessions").await,
        ["ses_expired_29d", "ses_live", "ses_revoked_29d"]
    );
    assert_eq!(
        ids(pool, "SELECT session_id FROM refresh_tokens").await,
        ["ses_expired_29d", "ses_live", "ses_revoked_29d"]
    );
    assert_eq!(
        ids(pool, "SELECT session_id FROM revocations").await,
        ["ses_matters"]
    );
    assert_eq!(
        ids(pool, "SELECT token_hash FROM mail_tokens").await,
        ["mt_live", "mt_used_6d"]
    );
    assert_eq!(
        ids(pool, "SELECT id_hash FROM webauthn_challenges").await,
        ["wc_live"]
    );
    assert_eq!(
        ids(pool, "SELECT token_hash FROM mfa_challenges").await,
        ["mt_live", "mt_used_6d"]
    );
    assert_eq!(
        ids(pool, "SELECT email FROM login_throttle").await,
        ["recent@example.com"]
    );
    assert_eq!(
        ids(pool, "SELECT key FROM idempotency_keys").await,
        ["idem_recent"]
    );
    assert_eq!(
        ids(pool, "SELECT event_id FROM webhook_events").await,
        ["evt_dead_200d", "evt_done_89d"]
    );
    let attempts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_attempts")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(attempts, 2);
    let actions = ids(pool, "SELECT action FROM audit_log").await;
    assert!(
        actions.contains(&"test.recent".to_owned()) && !actions.contains(&"test.old".to_owned())
    );
    assert!(actions.contains(&"retention.sweep".to_owned()));
    // Again: nothing left to delete.
    let again = retention::sweep(core, &Ctx::scheduler()).await.unwrap();
    assert_eq!(again, Swept::default());
}

#[test]
fn retention_settings_are_checked() {
    let cfg = |extra: &[(&str, &str)]| {
        let mut env: HashMap<String, String> = common::base_env();
        for (k, v) in extra {
            env.insert(k.to_string(), v.to_string());
        }
        Config::from_map(&env)
            .map(|c| c.retention)
            .map_err(|e| e.to_string())
    };
    let r = cfg(&[]).unwrap();
    assert_eq!(
        (r.sweep_every_secs, r.sessions_days, r.audit_days),
        (3600, 30, 365)
    );
    let e = cfg(&[("RETENTION_AUDIT_DAYS", "60")]).unwrap_err();
    assert!(e.contains("RETENTION_AUDIT_DAYS"), "{e}");
    let e = cfg(&[("RETENTION_SESSIONS_DAYS", "0")]).unwrap_err();
    assert!(e.contains("RETENTION_SESSIONS_DAYS"), "{e}");
    let e = cfg(&[("RETENTION_SWEEP_SECS", "5")]).unwrap_err();
    assert!(e.contains("RETENTION_SWEEP_SECS"), "{e}");
    assert_eq!(
        cfg(&[("RETENTION_SWEEP_SECS", "0")])
            .unwrap()
            .sweep_every_secs,
        0
    );
}

#[tokio::test]
async fn deleting_an_account_needs_a_fresh_authentication_and_leaves_nothing_personal() {
    let t = TestApp::new().await;
    let (first, who) = t.signup_login("gone@example.com").await;
    let second = t.login("gone@example.com", PASSWORD).await;
    let uid = who.user.clone().unwrap();
    // Some personal traces: a failed log-in audited under the address, a pending TOTP factor.
    let r = t
        .post(
            "/auth/login",
            &As::anonymous(),
            json!({ "email": "gone@example.com", "password": "wrong password!!" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = t.post("/api/mfa/totp/enroll", &who, json!({})).await;
    assert_eq!(r.status, StatusCode::OK);

    t.state.clock.advance_secs(600);
    let r = t
        .call(axum::http::Method::DELETE, "/api/account", &who, None)
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "insufficient_user_authentication")
    );
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("max_age=300"));
    t.state.clock.advance_secs(-600);
    let r = t
        .call(axum::http::Method::DELETE, "/api/account", &who, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert!(
        r.headers.get_all("set-cookie").iter().count() >= 2,
        "cookies cleared"
    );

    for login in [&first, &second] {
        let r = t.refresh(login["refresh_token"].as_str().unwrap()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    }
    let feed = t.feed(0).await;
    assert!(feed["revocations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "user" && e["user"] == uid.as_str()));

    let pool = &t.state.db.pool;
    let row: (String, String, i64) =
        sqlx::query_as("SELECT email, password_hash, disabled FROM users WHERE id = $1")
            .bind(&uid)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(
        row,
        (format!("deleted+{uid}@deleted.invalid"), "!".to_owned(), 1)
    );
    for (sql, want) in [
        ("SELECT COUNT(*) FROM audit_log WHERE target = 'gone@example.com'", 0i64),
        ("SELECT COUNT(*) FROM totp_factors", 0),
        ("SELECT COUNT(*) FROM user_roles WHERE user_id = (SELECT id FROM users WHERE email LIKE 'deleted+%')", 0),
        ("SELECT COUNT(*) FROM refresh_tokens", 0),
        ("SELECT COUNT(*) FROM sessions WHERE user_agent <> '' OR ip <> ''", 0),
        ("SELECT COUNT(*) FROM login_throttle", 0),
    ] {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(pool).await.unwrap();
        assert_eq!(n, want, "{sql}");
    }
    assert!(t.audit_actions().await.contains(&"user.delete".to_owned()));
    // The old password opens nothing.
    let r = t
        .post(
            "/auth/login",
            &As::anonymous(),
            json!({ "email": "gone@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );

    // The address is free again; the old identity cannot delete anything any more.
    t.signup_login("gone@example.com").await;
    let r = t
        .call(axum::http::Method::DELETE, "/api/account", &who, None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

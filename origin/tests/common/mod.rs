//! Test harness: a fresh database per test (SQLite temp file, or a fresh schema on the
//! PostgreSQL named by `TEST_DATABASE_URL`), the app router, and an envelope-signing client.
#![allow(dead_code)]

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use edge_auth::envelope::{self, EnvelopeKey};
use edge_auth::secret::SecretBytes;
use edge_auth_origin::config::Config;
use edge_auth_origin::db::Db;
use edge_auth_origin::domain::clock::Clock;
use edge_auth_origin::{app, AppState};
use serde_json::Value;
use tower::ServiceExt;

pub const SECRET_HEX: &str = "5f0c9d7e2a41b3c8e6f1a09b7d3c5e2f4a6b8c0d1e3f5a7b9c1d3e5f7a9b1c3d";
pub const KEK_HEX: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

/// A database for one test. PostgreSQL if `TEST_DATABASE_URL` says so — and then it must be
/// reachable: the test fails (never skips) when it is not.
pub async fn test_db() -> Db {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            let schema = format!(
                "t_{}",
                edge_auth_origin::domain::ids::hex(
                    &edge_auth_origin::domain::ids::random_bytes::<8>()
                )
            );
            sqlx::any::install_default_drivers();
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
                .await
                .unwrap_or_else(|e| panic!("TEST_DATABASE_URL={url} is unreachable: {e}"));
            // The schema name is generated above from hex digits only.
            sqlx::Executor::execute(&mut conn, format!("CREATE SCHEMA {schema}").as_str())
                .await
                .expect("create test schema");
            let sep = if url.contains('?') { '&' } else { '?' };
            let scoped = format!("{url}{sep}options=-c%20search_path%3D{schema}");
            let db = Db::connect(&scoped)
                .await
                .expect("connect + migrate postgres test schema");
            if url.contains("sslmode=verify-full") {
                // The suite runs over TLS (scripts/test.sh): prove the pool's sessions use it.
                let tls: bool =
                    sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                        .fetch_one(&db.pool)
                        .await
                        .expect("read pg_stat_ssl");
                assert!(
                    tls,
                    "TEST_DATABASE_URL asks for verify-full but the session is not TLS"
                );
            }
            db
        }
        _ => {
            let dir = std::env::temp_dir().join("edge-auth-origin-tests");
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join(format!(
                "{}.sqlite3",
                edge_auth_origin::domain::ids::new_id("db")
            ));
            Db::connect(&format!("sqlite://{}?mode=rwc", file.display()))
                .await
                .expect("connect + migrate sqlite test db")
        }
    }
}

pub fn base_env() -> HashMap<String, String> {
    [
        ("ENVELOPE_SECRET", SECRET_HEX),
        ("KEY_ENCRYPTION_KEY", KEK_HEX),
        // Small argon2 costs keep debug-build tests fast; the timing test sets its own.
        ("ARGON2_M_COST_KIB", "256"),
        ("ARGON2_T_COST", "1"),
        ("ARGON2_P_COST", "1"),
        ("COOKIE_SECURE", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    pub key: EnvelopeKey,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: Vec<u8>,
}

impl Resp {
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Who the fake edge says is calling.
#[derive(Clone, Debug, Default)]
pub struct As {
    pub user: Option<String>,
    pub session: Option<String>,
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
    /// The token's `auth_time` as the edge may forward it (`x-auth-auth-time`).
    pub auth_time: Option<i64>,
}

impl As {
    pub fn anonymous() -> As {
        As::default()
    }
    pub fn user(user: &str, session: &str) -> As {
        As {
            user: Some(user.into()),
            session: Some(session.into()),
            roles: vec!["user".into()],
            permissions: vec!["profile:read".into()],
            auth_time: None,
        }
    }
    pub fn admin(user: &str) -> As {
        As {
            user: Some(user.into()),
            session: Some("ses_admin".into()),
            roles: vec!["admin".into(), "user".into()],
            permissions: vec!["rbac:admin".into(), "profile:read".into()],
            // Just signed in: role and permission changes need a fresh authentication.
            auth_time: Some(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs() as i64,
            ),
        }
    }
    /// The identity carried by a token body from /auth/login.
    pub fn from_login(body: &Value) -> As {
        let claims = decode_claims(body["access_token"].as_str().unwrap());
        let list = |k: &str| {
            claims[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        As {
            user: Some(claims["sub"].as_str().unwrap().into()),
            session: Some(claims["sid"].as_str().unwrap().into()),
            roles: list("roles"),
            permissions: list("permissions"),
            auth_time: None,
        }
    }
    fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = Vec::new();
        if let Some(u) = &self.user {
            h.push((envelope::USER, u.clone()));
            if let Some(s) = &self.session {
                h.push((envelope::SESSION, s.clone()));
            }
            h.push((envelope::ROLES, self.roles.join(",")));
            h.push((envelope::PERMISSIONS, self.permissions.join(",")));
            h.push((envelope::ISSUER, "http://127.0.0.1:8788".into()));
            if let Some(t) = self.auth_time {
                h.push(("x-auth-auth-time", t.to_string()));
            }
        }
        h
    }
}

pub fn decode_claims(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

impl TestApp {
    pub async fn new() -> TestApp {
        TestApp::with_env(&[]).await
    }

    pub async fn with_env(extra: &[(&str, &str)]) -> TestApp {
        let mut env = base_env();
        for (k, v) in extra {
            env.insert(k.to_string(), v.to_string());
        }
        let config = Config::from_map(&env).expect("test config");
        let db = test_db().await;
        let state = AppState::new(config, db, Clock::system())
            .await
            .expect("state");
        let key = EnvelopeKey::new(
            SecretBytes::new(edge_auth::envelope::unhex(SECRET_HEX).unwrap(), 32).unwrap(),
        )
        .unwrap();
        TestApp {
            router: app(state.clone()),
            state,
            key,
        }
    }

    /// Builds a request signed like the edge would sign it for `who`.
    pub fn signed(
        &self,
        method: Method,
        uri: &str,
        who: &As,
        body: Option<Value>,
    ) -> Request<Body> {
        let mut hs = who.headers();
        // The edge signs the request id it forwards (the origin audits it).
        hs.push((envelope::REQUEST_ID, "req-test-1".into()));
        let sig = envelope::sign(
            &self.key,
            self.state.clock.now(),
            method.as_str(),
            uri,
            hs.iter().map(|(n, v)| (*n, v.as_str())),
        )
        .unwrap();
        let mut b = Request::builder().method(method).uri(uri);
        for (n, v) in &hs {
            b = b.header(*n, v);
        }
        b = b.header(envelope::SIGNATURE_HEADER, sig);
        match body {
            Some(v) => b
                .header("content-type", "application/json")
                .body(Body::from(v.to_string()))
                .unwrap(),
            None => b.body(Body::empty()).unwrap(),
        }
    }

    pub async fn send(&self, req: Request<Body>) -> Resp {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let raw = axum::body::to_bytes(res.into_body(), 1 << 24)
            .await
            .unwrap()
            .to_vec();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            raw,
        }
    }

    pub async fn call(&self, method: Method, uri: &str, who: &As, body: Option<Value>) -> Resp {
        self.send(self.signed(method, uri, who, body)).await
    }

    pub async fn get(&self, uri: &str, who: &As) -> Resp {
        self.call(Method::GET, uri, who, None).await
    }

    pub async fn post(&self, uri: &str, who: &As, body: Value) -> Resp {
        self.call(Method::POST, uri, who, Some(body)).await
    }
}

pub const PASSWORD: &str = "tangerine velvet orbit 42";

impl TestApp {
    /// Signs up `email` and logs in as an API client; returns the token body and the
    /// identity the edge would derive from its access token.
    pub async fn signup_login(&self, email: &str) -> (Value, As) {
        let r = self
            .post(
                "/auth/signup",
                &As::anonymous(),
                serde_json::json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        let body = self.login(email, PASSWORD).await;
        let who = As::from_login(&body);
        (body, who)
    }

    pub async fn login(&self, email: &str, password: &str) -> Value {
        let r = self
            .post(
                "/auth/login",
                &As::anonymous(),
                serde_json::json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body
    }

    pub async fn refresh(&self, token: &str) -> Resp {
        self.post(
            "/auth/refresh",
            &As::anonymous(),
            serde_json::json!({"refresh_token": token}),
        )
        .await
    }

    pub async fn feed(&self, since: i64) -> Value {
        self.feed_from(&since.to_string()).await
    }

    /// One page of the revocation feed after an opaque cursor (the `next` of a previous page),
    /// once nothing in it is held back. On PostgreSQL a page waits for every write transaction
    /// in flight in the cluster — here, other tests' — so a page read right after a commit may
    /// hold this test's entries back for a moment (see `tests/revocation_feed.rs`).
    pub async fn feed_from(&self, cursor: &str) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let page = self.feed_page(cursor).await;
            if page["held_back"] != true || std::time::Instant::now() > deadline {
                return page;
            }
        }
    }

    /// One page of the revocation feed as the origin answers it.
    pub async fn feed_page(&self, cursor: &str) -> Value {
        let r = self
            .get(
                &format!("/internal/revocations?since={cursor}"),
                &As::anonymous(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        let r = self
            .get("/admin/audit?limit=500", &As::admin("usr_root"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect()
    }
}

//! How many SQL statements one GraphQL query of 50 users with their roles, role parents and
//! permissions, effective permissions and sessions costs, with DataLoader and without it
//! (`GRAPHQL_DATALOADER=false`), on SQLite or on the PostgreSQL of `TEST_DATABASE_URL`.
//!
//! Statements are counted as sqlx reports them: every statement it runs is a `tracing` event
//! with target `sqlx::query` (on SQLite from the connection's worker thread, hence a global
//! subscriber — and one test in this binary, so nothing else runs while it counts).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use axum::http::StatusCode;
use common::{As, TestApp};
use edge_auth_origin::domain::{accounts, sessions, Ctx};
use serde_json::json;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

static COUNTING: AtomicBool = AtomicBool::new(false);
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records the summary of every `sqlx::query` event while counting is on.
struct StatementCounter;

struct Summary(String);
impl Visit for Summary {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "summary" {
            self.0 = value.to_owned();
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" && self.0.is_empty() {
            self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for StatementCounter {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.target() == "sqlx::query"
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, e: &Event<'_>) {
        if e.metadata().target() != "sqlx::query" || !COUNTING.load(Ordering::SeqCst) {
            return;
        }
        let mut s = Summary(String::new());
        e.record(&mut s);
        let lower = s.0.trim_matches('"').to_ascii_lowercase();
        // Connection set-up (a new pooled connection's PRAGMAs / SET) is not the query's.
        if lower.starts_with("pragma") || lower.starts_with("set ") {
            return;
        }
        SEEN.lock().unwrap().push(lower);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

const QUERY: &str = "{ users(first: 50) { nodes { id email \
    roles { name parent { name } permissions } permissions sessions { id } } } }";

/// 50 accounts, each with the `user` role (every third also `admin`) and one session.
async fn seed(t: &TestApp) {
    for i in 0..50 {
        let roles: &[&str] = if i % 3 == 0 {
            &["user", "admin"]
        } else {
            &["user"]
        };
        let u = accounts::create_user(
            &t.state,
            &Ctx::cli(),
            &format!("s{i:02}@example.com"),
            "!",
            roles,
        )
        .await
        .expect("user");
        sessions::create(&t.state, &Ctx::default(), &u)
            .await
            .expect("session");
    }
}

/// The statements one run of [`QUERY`] issued, and the answer's users.
async fn run(t: &TestApp) -> (Vec<String>, serde_json::Value) {
    // Warm the pool and the statement caches so only the query's own statements count.
    let r = t
        .post(
            "/graphql",
            &As::admin("usr_root"),
            json!({ "query": "{ users(first: 1) { nodes { id } } }" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    SEEN.lock().unwrap().clear();
    COUNTING.store(true, Ordering::SeqCst);
    let r = t
        .post(
            "/graphql",
            &As::admin("usr_root"),
            json!({ "query": QUERY }),
        )
        .await;
    COUNTING.store(false, Ordering::SeqCst);
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body.get("errors").is_none(), "{:?}", r.body);
    let seen = std::mem::take(&mut *SEEN.lock().unwrap());
    (seen, r.body["data"]["users"]["nodes"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_users_with_roles_and_permissions_cost_a_bounded_number_of_statements() {
    tracing::subscriber::set_global_default(StatementCounter).expect("the only subscriber");
    let backend = if std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        "postgresql"
    } else {
        "sqlite"
    };

    let with = TestApp::new().await;
    seed(&with).await;
    let (batched, users) = run(&with).await;
    let users = users.as_array().unwrap().clone();
    assert_eq!(users.len(), 50);
    for u in &users {
        assert!(!u["roles"].as_array().unwrap().is_empty(), "{u}");
        assert!(
            u["permissions"]
                .as_array()
                .unwrap()
                .contains(&json!("profile:read")),
            "{u}"
        );
        assert_eq!(u["sessions"].as_array().unwrap().len(), 1, "{u}");
    }

    let without = TestApp::with_env(&[("GRAPHQL_DATALOADER", "false")]).await;
    seed(&without).await;
    let (naive, users2) = run(&without).await;
    // The same answer either way (ids differ between the two databases; compare the rest).
    let strip = |v: &[serde_json::Value]| -> Vec<serde_json::Value> {
        v.iter()
            .map(|u| {
                json!([
                    u["email"],
                    u["roles"],
                    u["permissions"],
                    u["sessions"].as_array().unwrap().len()
                ])
            })
            .collect::<Vec<_>>()
    };
    let (mut a, mut b) = (strip(&users), strip(users2.as_array().unwrap()));
    a.sort_by_key(|v| v[0].to_string());
    b.sort_by_key(|v| v[0].to_string());
    assert!(a == b, "the answers differ with and without DataLoader");

    eprintln!(
        "[{backend}] 50 users with roles, role parents and permissions, effective permissions, sessions: \
         {} statements with DataLoader, {} without",
        batched.len(),
        naive.len()
    );
    eprintln!("[{backend}] with DataLoader: {batched:#?}");
    // The users page, the roles of the 50 users, their effective permissions (roles of users,
    // role parents, grants), their sessions, the records of their roles (parents included),
    // the permissions of those roles: 8, one per relation, whatever the number of users.
    assert!(batched.len() <= 8, "{batched:#?}");
    // Without: per user at least roles, effective (3), sessions, and per role its record and
    // permissions.
    assert!(naive.len() >= 50 * 5, "{}", naive.len());
}

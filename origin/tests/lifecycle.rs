//! Running as one of several processes (issue 22, part 2): `/readyz` for the load balancer,
//! `MIGRATE_ON_START=false` waiting for `edge-auth-origin migrate`, and a SIGTERM that drains
//! before it stops. The process tests run the real binary on 127.0.0.1 with a SQLite file.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{Resp, TestApp};

/// What a load balancer sends: no envelope.
async fn probe(t: &TestApp, path: &str) -> Resp {
    t.send(Request::get(path).body(Body::empty()).unwrap())
        .await
}

#[tokio::test]
async fn a_database_a_newer_release_migrated_still_migrates_and_is_ready() {
    let t = TestApp::new().await;
    // What a later release leaves behind during a rolling upgrade (or before a roll-back).
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'a later release', TRUE, $1, 0)",
    )
    .bind(vec![0u8])
    .execute(&t.state.db.pool)
    .await
    .unwrap();
    t.state
        .db
        .migrate()
        .await
        .expect("a newer migration is not a reason to refuse");
    let r = probe(&t, "/readyz").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["newer_migrations"], serde_json::json!([9999]));
}

#[tokio::test]
async fn readiness_needs_the_database_migrated_and_no_shutdown_under_way() {
    let t = TestApp::new().await;
    let r = probe(&t, "/readyz").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "ready");

    // A migration this binary carries is not applied (a failed run left it unfinished).
    sqlx::query("UPDATE _sqlx_migrations SET success = FALSE WHERE version = 3")
        .execute(&t.state.db.pool)
        .await
        .unwrap();
    let r = probe(&t, "/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.body["reason"], "migrations_pending");
    assert_eq!(r.body["pending"], serde_json::json!([3]));
    // Liveness is not readiness: the process is fine, it just must not take traffic.
    assert_eq!(probe(&t, "/healthz").await.status, StatusCode::OK);

    sqlx::query("UPDATE _sqlx_migrations SET success = TRUE WHERE version = 3")
        .execute(&t.state.db.pool)
        .await
        .unwrap();
    assert_eq!(probe(&t, "/readyz").await.status, StatusCode::OK);

    t.state.lifecycle.start_draining();
    let r = probe(&t, "/readyz").await;
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("shutting_down"))
    );
}

/// The binary under test, with a fresh data dir and a free loopback port.
struct Origin {
    dir: std::path::PathBuf,
    port: u16,
}

impl Origin {
    fn new(name: &str) -> Origin {
        let dir = std::env::temp_dir().join(format!(
            "edge-auth-lifecycle-{name}-{}",
            edge_auth_origin::domain::ids::new_id("t")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Origin { dir, port }
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_edge-auth-origin"));
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("ORIGIN_ADDR", format!("127.0.0.1:{}", self.port))
            .env("DATA_DIR", &self.dir)
            .env("ENVELOPE_SECRET", common::SECRET_HEX)
            .env("KEY_ENCRYPTION_KEY", common::KEK_HEX)
            .env("WEBHOOK_WORKERS", "1")
            .env("LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }

    /// Status code and body of `GET path`, or None when nothing listens.
    fn get(&self, path: &str) -> Option<(u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        let status = out.split(' ').nth(1)?.parse().ok()?;
        Some((
            status,
            out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned(),
        ))
    }

    fn wait_for(&self, path: &str, want: u16, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some((status, body)) = self.get(path) {
                if status == want {
                    return Some(body);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Kills the child if a test assertion fails before it exits on its own.
struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM");
}

#[test]
fn sigterm_fails_readiness_first_then_exits_cleanly() {
    let o = Origin::new("sigterm");
    let mut p = Running(
        o.command(&["serve"], &[("SHUTDOWN_DRAIN_SECS", "2")])
            .spawn()
            .unwrap(),
    );
    o.wait_for("/readyz", 200, Duration::from_secs(30))
        .expect("the origin came up ready");

    sigterm(&p.0);
    let body = o
        .wait_for("/readyz", 503, Duration::from_secs(2))
        .expect("readiness fails during the drain");
    assert!(body.contains("shutting_down"), "{body}");
    // Still serving while the load balancer drains it.
    assert_eq!(o.get("/healthz").map(|(s, _)| s), Some(200));

    let started = Instant::now();
    let status = loop {
        if let Some(s) = p.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
    assert!(o.get("/healthz").is_none(), "the listener is closed");
    let mut log = String::new();
    p.0.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(log.contains("shut down cleanly"), "{log}");
}

#[test]
fn serve_without_migrate_on_start_waits_for_the_migrate_command() {
    let o = Origin::new("migrate");
    let env = [("MIGRATE_ON_START", "false")];
    let p = Running(o.command(&["serve"], &env).spawn().unwrap());
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        o.get("/healthz").is_none(),
        "nothing listens before the schema exists"
    );

    let out = o.command(&["migrate"], &[]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = o
        .wait_for("/readyz", 200, Duration::from_secs(30))
        .expect("serve starts once the migrations are applied");
    assert!(body.contains("\"ready\""), "{body}");
    drop(p);
}

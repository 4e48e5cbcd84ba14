//! Routine signing-key rotation (issue 22, part 5): the successor is published before it
//! signs, the old key is retired once it does and stays published while its tokens live, and
//! several processes running the timer at once agree on one successor.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::TestApp;
use edge_auth_origin::config::Config;
use edge_auth_origin::domain::clock::Clock;
use edge_auth_origin::domain::keys::{rotate_on_schedule, Scheduled};
use edge_auth_origin::domain::{Core, Ctx};
use serde_json::Value;

const DAY: i64 = 86_400;
const PREPUBLISH: i64 = 600;

async fn app() -> TestApp {
    TestApp::with_env(&[("KEY_ROTATION_DAYS", "1"), ("KEY_PREPUBLISH_SECS", "600")]).await
}

/// The kids the JWKS publishes, as an edge fetches them.
async fn published(t: &TestApp) -> Vec<String> {
    let r = t
        .send(
            Request::get("/.well-known/jwks.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    r.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// The kid a freshly minted access token is signed with.
async fn signing_kid(t: &TestApp, n: &mut u32) -> String {
    *n += 1;
    let (login, _) = t.signup_login(&format!("k{n}@example.com")).await;
    let token = login["access_token"].as_str().unwrap();
    use base64::Engine;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.split('.').next().unwrap())
        .unwrap();
    let header: Value = serde_json::from_slice(&header).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

async fn step(t: &TestApp) -> Option<Scheduled> {
    rotate_on_schedule(&t.state.core, &Ctx::scheduler())
        .await
        .unwrap()
}

#[tokio::test]
async fn the_successor_is_published_before_it_signs_and_the_old_key_outlives_its_tokens() {
    let t = app().await;
    let mut n = 0;
    let first = signing_kid(&t, &mut n).await;
    assert_eq!(published(&t).await, std::slice::from_ref(&first));
    assert_eq!(step(&t).await, None, "a fresh key is not due");

    t.state.clock.advance_secs(DAY - PREPUBLISH);
    let Some(Scheduled::Prepublished {
        kid: next,
        activates_at,
    }) = step(&t).await
    else {
        panic!("the successor is due {PREPUBLISH} s before the key's day ends");
    };
    let lead = activates_at - t.state.clock.now_ms();
    assert!(
        (PREPUBLISH * 1000 - 5_000..=PREPUBLISH * 1000).contains(&lead),
        "{lead} ms ahead"
    );
    let mut keys = published(&t).await;
    keys.sort();
    let mut both = vec![first.clone(), next.clone()];
    both.sort();
    assert_eq!(keys, both, "edges can cache the successor before it signs");
    assert_eq!(signing_kid(&t, &mut n).await, first, "it does not sign yet");
    assert_eq!(step(&t).await, None, "one successor, not one per tick");

    t.state.clock.advance_secs(PREPUBLISH);
    assert_eq!(
        signing_kid(&t, &mut n).await,
        next,
        "it signs from activates_at on"
    );
    assert_eq!(
        step(&t).await,
        Some(Scheduled::Activated {
            kid: next.clone(),
            retired: vec![first.clone()]
        })
    );
    assert!(
        published(&t).await.contains(&first),
        "tokens of the retired key are still alive"
    );
    assert_eq!(step(&t).await, None);

    // Once every token the old key signed has expired (access TTL + leeway), it is unpublished.
    t.state.clock.advance_secs(900 + 61);
    assert_eq!(published(&t).await, std::slice::from_ref(&next));

    let audit = t.audit_actions().await;
    for action in ["keys.prepublish", "keys.activate"] {
        assert_eq!(
            audit.iter().filter(|a| *a == action).count(),
            1,
            "{action} in {audit:?}"
        );
    }
}

#[tokio::test]
async fn processes_racing_on_the_timer_agree_on_one_successor() {
    let t = app().await;
    t.state.clock.advance_secs(DAY - PREPUBLISH + 1);
    // Eight timers at once, each in its own transaction on its own connection: open the
    // connections first, so no timer finishes while the next one is still connecting.
    let mut warm = Vec::new();
    for _ in 0..t.state.db.pool.options().get_max_connections().min(8) {
        warm.push(t.state.db.pool.acquire().await.unwrap());
    }
    drop(warm);
    let timers: Vec<_> = (0..8)
        .map(|_| {
            let core = t.state.core.clone();
            tokio::spawn(async move { rotate_on_schedule(&core, &Ctx::scheduler()).await })
        })
        .collect();
    let mut made = Vec::new();
    for timer in timers {
        if let Some(step) = timer.await.unwrap().expect("no step fails") {
            made.push(step);
        }
    }
    assert_eq!(made.len(), 1, "{made:?}");
    let pending: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM signing_keys WHERE retired_at IS NULL AND activates_at IS NOT NULL",
    )
    .fetch_one(&t.state.db.pool)
    .await
    .unwrap();
    assert_eq!(pending, 1);
}

#[tokio::test]
async fn processes_starting_together_on_an_empty_database_create_one_key() {
    let db = common::test_db().await;
    let config = Config::from_map(&common::base_env()).unwrap();
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let (config, db) = (config.clone(), db.clone());
            tokio::spawn(async move { Core::new(config, db, Clock::system()).await.map(|_| ()) })
        })
        .collect();
    for s in starts {
        s.await.unwrap().expect("every process starts");
    }
    let keys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM signing_keys")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(keys, 1);
}

#[test]
fn rotation_settings_name_the_variable_when_wrong() {
    let mut env = common::base_env();
    env.insert("KEY_PREPUBLISH_SECS".into(), "60".into());
    let e = Config::from_map(&env).unwrap_err();
    assert_eq!(e.var, "KEY_PREPUBLISH_SECS", "{e}");
    assert!(e.problem.contains("JWKS_MAX_AGE_SECS (300)"), "{e}");
    env.insert("KEY_PREPUBLISH_SECS".into(), "90000".into());
    env.insert("KEY_ROTATION_DAYS".into(), "1".into());
    assert_eq!(
        Config::from_map(&env).unwrap_err().var,
        "KEY_PREPUBLISH_SECS"
    );
    env.insert("KEY_ROTATION_DAYS".into(), "0".into());
    assert_eq!(
        Config::from_map(&env).unwrap().key_rotation.every_secs,
        None,
        "0 turns it off"
    );
}

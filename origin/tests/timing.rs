//! Timing: an unknown email must cost what a wrong password costs (no account enumeration).
//! Alone in its own test binary so no sibling test competes for the CPU while it measures.

mod common;

use std::time::Instant;

use axum::http::StatusCode;
use common::{As, TestApp};
use serde_json::json;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[tokio::test]
async fn unknown_email_takes_as_long_as_a_wrong_password() {
    // Costs high enough that hashing dominates; throttling off for the measurement.
    let t = TestApp::with_env(&[
        ("ARGON2_M_COST_KIB", "2048"),
        ("ARGON2_T_COST", "2"),
        ("LOGIN_THROTTLE_AFTER", "1000"),
    ])
    .await;
    t.signup_login("quinn@example.com").await;
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..15 {
        for (email, out) in [
            ("quinn@example.com", &mut known),
            ("ghost@example.com", &mut unknown),
        ] {
            let start = Instant::now();
            let r = t
                .post(
                    "/auth/login",
                    &As::anonymous(),
                    json!({"email": email, "password": format!("wrong password {i}")}),
                )
                .await;
            out.push(start.elapsed().as_secs_f64());
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        }
    }
    let (k, u) = (median(known), median(unknown));
    let diff = (k - u).abs() / k.max(u);
    assert!(
        diff < 0.25,
        "median known {k:.4}s vs unknown {u:.4}s differ by {:.0}%",
        diff * 100.0
    );
    // And a verification really happened for the unknown email (not a fast path).
    let fast = Instant::now();
    let _ = t
        .post(
            "/auth/login",
            &As::anonymous(),
            json!({"email": "not an email", "password": "x"}),
        )
        .await;
    assert!(
        u > fast.elapsed().as_secs_f64() * 0.5 || u > 0.002,
        "unknown-user login too fast: {u}"
    );
}

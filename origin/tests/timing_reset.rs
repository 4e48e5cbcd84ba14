//! Timing: "reset my password" for an address no account has must cost what it costs for a
//! real account (the mail goes out in the background). Alone in its own test binary so no
//! sibling test competes for the CPU while it measures.

mod common;
#[path = "common/smtp.rs"]
mod smtp;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{As, TestApp};
use serde_json::json;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[tokio::test]
async fn a_reset_request_for_an_unknown_address_takes_as_long_as_for_an_account() {
    let sink = smtp::Sink::start().await;
    let t = TestApp::with_env(&[
        ("SMTP_URL", &sink.url()),
        ("MAIL_FROM", "no-reply@edge-auth.test"),
        ("PUBLIC_URL", "http://localhost:8787"),
        // 21 links for one address within the hour: above the default per-address limit.
        ("PASSWORD_RESET_PER_EMAIL_PER_HOUR", "50"),
    ])
    .await;
    t.signup_login("timed@example.com").await;
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..21 {
        for (email, out) in [
            ("timed@example.com", &mut known),
            ("ghost@example.com", &mut unknown),
        ] {
            let start = Instant::now();
            let r = t
                .post(
                    "/auth/password/forgot",
                    &As::anonymous(),
                    json!({ "email": email }),
                )
                .await;
            out.push(start.elapsed().as_secs_f64());
            assert_eq!(r.status, StatusCode::ACCEPTED);
            // Let the background mail finish before the next measurement.
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }
    assert_eq!(
        sink.wait_for(21).await.len(),
        21,
        "one mail per request for the account"
    );
    let (k, u) = (median(known), median(unknown));
    let diff = (k - u).abs() / k.max(u);
    assert!(
        diff < 0.5,
        "median known {k:.5}s vs unknown {u:.5}s differ by {:.0}%",
        diff * 100.0
    );
}

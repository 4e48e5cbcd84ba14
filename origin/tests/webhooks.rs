//! Webhooks at the origin: stored exactly once per (provider, event id), processed in the
//! background by leased workers with retries, backoff and a dead letter state, observable and
//! re-queueable through the admin API (`webhooks:admin` only).
//!
//! Time is the service clock: tests move it forward past backoffs and leases instead of sleeping.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{As, Resp, TestApp};
use edge_auth::envelope;
use edge_auth_origin::domain::webhooks::processor::{self, Outcome, Processor};
use edge_auth_origin::domain::webhooks::{self as store, Finish};
use serde_json::{json, Value};

const TEST_HANDLERS: &[(&str, &str)] = &[("WEBHOOK_TEST_HANDLERS", "1")];

fn webhook_admin() -> As {
    As {
        user: Some("usr_ops".into()),
        session: Some("ses_ops".into()),
        roles: vec!["ops".into()],
        permissions: vec!["webhooks:admin".into()],
        auth_time: None,
    }
}

/// A forwarded delivery as the edge would sign it.
struct Delivery<'a> {
    path: String,
    /// `x-auth-webhook-provider`; `None` for a non-webhook envelope.
    provider: Option<&'a str>,
    id: Option<&'a str>,
    /// Extra identity (to test user envelopes that also claim a provider).
    user: Option<&'a str>,
    headers: Vec<(&'a str, String)>,
    body: Vec<u8>,
}

impl<'a> Delivery<'a> {
    fn new(provider: &'a str, id: &'a str, body: impl Into<Vec<u8>>) -> Self {
        Delivery {
            path: format!("/webhooks/{provider}"),
            provider: Some(provider),
            id: Some(id),
            user: None,
            headers: Vec::new(),
            body: body.into(),
        }
    }
    fn stripe(id: &'a str, ty: &str, object: Value) -> Self {
        let body = json!({"id": id, "object": "event", "type": ty, "created": 1_700_000_000, "data": {"object": object}});
        Delivery::new("stripe", id, body.to_string())
    }
    fn header(mut self, n: &'a str, v: &str) -> Self {
        self.headers.push((n, v.to_owned()));
        self
    }
}

fn request(t: &TestApp, d: &Delivery) -> Request<Body> {
    let mut identity: Vec<(&str, String)> = Vec::new();
    if let Some(p) = d.provider {
        identity.push((envelope::WEBHOOK_PROVIDER, p.to_owned()));
    }
    if let Some(id) = d.id {
        identity.push((envelope::WEBHOOK_ID, id.to_owned()));
    }
    if let Some(u) = d.user {
        identity.push((envelope::USER, u.to_owned()));
        identity.push((envelope::PERMISSIONS, "webhooks:admin".to_owned()));
    }
    identity.push((
        envelope::WEBHOOK_TIMESTAMP,
        (t.state.clock.now_ms() / 1000).to_string(),
    ));
    // The edge signs the request id it forwards.
    identity.push((envelope::REQUEST_ID, "req-wh".to_owned()));
    let sig = envelope::sign(
        &t.key,
        t.state.clock.now(),
        "POST",
        &d.path,
        identity.iter().map(|(n, v)| (*n, v.as_str())),
    )
    .unwrap();
    let mut b = Request::builder().method(Method::POST).uri(&d.path);
    for (n, v) in identity.iter().chain(d.headers.iter()) {
        b = b.header(*n, v);
    }
    b.header(envelope::SIGNATURE_HEADER, sig)
        .body(Body::from(d.body.clone()))
        .unwrap()
}

async fn deliver(t: &TestApp, d: &Delivery<'_>) -> Resp {
    t.send(request(t, d)).await
}

fn processor(t: &TestApp) -> Processor {
    Processor::new(t.state.core.clone(), "test-worker")
}

/// The admin view of the event the provider calls `event_id`.
async fn event(t: &TestApp, provider: &str, event_id: &str) -> Value {
    let r = t
        .get(
            &format!("/admin/webhooks?provider={provider}&event_id={event_id}"),
            &webhook_admin(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let id = r.body["events"][0]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no event {provider}/{event_id}: {:?}", r.body));
    let r = t
        .get(&format!("/admin/webhooks/{id}"), &webhook_admin())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body
}

async fn count_rows(t: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(&t.state.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_delivery_is_accepted_then_a_redelivery_is_a_duplicate() {
    let t = TestApp::new().await;
    let d = Delivery::stripe(
        "evt_1",
        "invoice.paid",
        json!({"id": "in_1", "amount_paid": 100}),
    );
    let r = deliver(&t, &d).await;
    assert_eq!(
        (r.status, r.body.clone()),
        (StatusCode::ACCEPTED, json!({"status": "accepted"}))
    );
    let r = deliver(&t, &d).await;
    assert_eq!(
        (r.status, r.body.clone()),
        (StatusCode::OK, json!({"status": "duplicate"}))
    );
    // The same id from another provider is another event.
    let r = deliver(
        &t,
        &Delivery::new("github", "evt_1", "x").header("x-github-event", "push"),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);

    let e = event(&t, "stripe", "evt_1").await;
    assert_eq!(e["type"], "invoice.paid");
    assert_eq!(e["status"], "pending");
    assert_eq!(e["attempts"], 0);
    assert_eq!(e["request_id"], "req-wh");
    assert_eq!(e["payload"].as_str().unwrap().as_bytes(), &d.body[..]);
    assert_eq!(
        count_rows(&t, "SELECT COUNT(*) FROM webhook_events").await,
        2
    );
}

#[tokio::test]
async fn the_raw_body_is_stored_byte_for_byte_and_github_types_come_from_the_header() {
    let t = TestApp::new().await;
    let body: Vec<u8> = b"payload=%7B%22zen%22%3A%22x%22%7D&\xff\x00 raw".to_vec();
    let d = Delivery::new(
        "github",
        "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        body.clone(),
    )
    .header("x-github-event", "ping");
    assert_eq!(deliver(&t, &d).await.status, StatusCode::ACCEPTED);
    let e = event(&t, "github", "72d3162e-cc78-11e3-81ab-4c9367dc0958").await;
    assert_eq!(e["type"], "ping");
    use base64::Engine;
    let stored = base64::engine::general_purpose::STANDARD
        .decode(e["payload_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(stored, body);
}

#[tokio::test]
async fn only_a_webhook_envelope_for_the_same_provider_is_accepted_and_bad_input_writes_nothing() {
    let t = TestApp::with_env(&[("WEBHOOK_MAX_BODY_BYTES", "1024")]).await;
    let ok_body = json!({"id": "evt_x", "type": "invoice.paid"}).to_string();

    // No envelope at all.
    let r = t
        .send(
            Request::post("/webhooks/stripe")
                .header("x-auth-webhook-provider", "stripe")
                .header("x-auth-webhook-id", "evt_x")
                .body(Body::from(ok_body.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::FORBIDDEN, "edge_signature_invalid")
    );
    // Signed, but anonymous or a user: not a webhook.
    for who in [As::anonymous(), As::admin("usr_root"), webhook_admin()] {
        let r = t
            .call(
                Method::POST,
                "/webhooks/stripe",
                &who,
                Some(json!({"type": "x"})),
            )
            .await;
        assert_eq!(
            (r.status, r.error()),
            (StatusCode::FORBIDDEN, "webhook_identity_required"),
            "{who:?}"
        );
    }
    let mut user_claiming_provider = Delivery::new("stripe", "evt_x", ok_body.clone());
    user_claiming_provider.user = Some("usr_1");

    let mut wrong_path = Delivery::new("github", "evt_x", ok_body.clone());
    wrong_path.path = "/webhooks/stripe".into();
    let mut no_id = Delivery::new("stripe", "evt_x", ok_body.clone());
    no_id.id = None;
    let long_id = "e".repeat(256);

    let cases: Vec<(&str, Delivery, StatusCode, &str)> = vec![
        (
            "a user envelope that also names a provider",
            user_claiming_provider,
            StatusCode::FORBIDDEN,
            "webhook_identity_required",
        ),
        (
            "a github envelope on the stripe route",
            wrong_path,
            StatusCode::FORBIDDEN,
            "webhook_provider_mismatch",
        ),
        (
            "a provider without a format",
            Delivery::new("paypal", "evt_x", ok_body.clone()),
            StatusCode::NOT_FOUND,
            "webhook_provider_unknown",
        ),
        (
            "no event id",
            no_id,
            StatusCode::UNPROCESSABLE_ENTITY,
            "webhook_event_id_missing",
        ),
        (
            "an event id too long",
            Delivery::new("stripe", &long_id, ok_body.clone()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "webhook_event_id_invalid",
        ),
        (
            "a stripe body that is not json",
            Delivery::new("stripe", "evt_x", "id=evt_x"),
            StatusCode::BAD_REQUEST,
            "webhook_body_not_json",
        ),
        (
            "a stripe body without type",
            Delivery::new("stripe", "evt_x", r#"{"id":"evt_x"}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "webhook_event_type_missing",
        ),
        (
            "a standard body with a numeric type",
            Delivery::new("standard", "msg_x", r#"{"type":3}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "webhook_event_type_invalid",
        ),
        (
            "a github delivery without X-GitHub-Event",
            Delivery::new("github", "d-1", "{}"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "webhook_event_type_missing",
        ),
        (
            "a body over the limit",
            Delivery::new(
                "stripe",
                "evt_big",
                format!(r#"{{"type":"a","pad":"{}"}}"#, "x".repeat(2000)),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
    ];
    for (what, d, status, id) in cases {
        let r = deliver(&t, &d).await;
        assert_eq!((r.status, r.error()), (status, id), "{what}");
        assert_eq!(
            r.header("content-type"),
            Some("application/problem+json"),
            "{what}"
        );
    }
    assert_eq!(
        count_rows(&t, "SELECT COUNT(*) FROM webhook_events").await,
        0
    );
}

#[tokio::test]
async fn the_same_delivery_sent_five_times_concurrently_is_stored_once_and_processed_once() {
    let t = TestApp::new().await;
    let d = Delivery::stripe(
        "evt_sub_1",
        "customer.subscription.updated",
        json!({"id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active"}),
    );
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let req = request(&t, &d);
        let router = t.router.clone();
        tasks.push(tokio::spawn(async move {
            use tower::ServiceExt;
            let res = router.oneshot(req).await.unwrap();
            let status = res.status();
            let body = axum::body::to_bytes(res.into_body(), 1 << 16)
                .await
                .unwrap();
            (status, serde_json::from_slice::<Value>(&body).unwrap())
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let accepted = answers
        .iter()
        .filter(|(s, b)| *s == StatusCode::ACCEPTED && b["status"] == "accepted")
        .count();
    let duplicates = answers
        .iter()
        .filter(|(s, b)| *s == StatusCode::OK && b["status"] == "duplicate")
        .count();
    assert_eq!((accepted, duplicates), (1, 4), "{answers:?}");

    // The background workers `serve` starts, twice over (4 tasks), race for it; one runs it.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut core_workers = processor::spawn(t.state.core.clone(), stopped);
    assert_eq!(core_workers.len(), 2, "WEBHOOK_WORKERS defaults to 2");
    core_workers.extend(processor::spawn(t.state.core.clone(), stop.subscribe()));
    let mut e = Value::Null;
    for _ in 0..200 {
        e = event(&t, "stripe", "evt_sub_1").await;
        if e["status"] == "done" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    stop.send(true).unwrap();
    for w in core_workers {
        w.await.unwrap();
    }
    assert_eq!(e["status"], "done", "{e:?}");
    assert_eq!(e["attempts"], 1);
    assert_eq!(e["attempt_log"].as_array().unwrap().len(), 1);
    assert_eq!(
        count_rows(&t, "SELECT COUNT(*) FROM webhook_events").await,
        1
    );
    let r = t
        .get("/admin/webhooks/subscriptions/cus_1", &webhook_admin())
        .await;
    assert_eq!(
        (r.status, r.body["status"].clone()),
        (StatusCode::OK, json!("active"))
    );

    let m = t
        .send(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    let text = String::from_utf8(m.raw).unwrap();
    for line in [
        "origin_webhooks_received_total{provider=\"stripe\"} 1",
        "origin_webhooks_duplicates_total{provider=\"stripe\"} 4",
        "origin_webhooks_processed_total{provider=\"stripe\"} 1",
        "origin_webhook_handler_duration_seconds_count 1",
        "origin_webhook_processing_latency_seconds_count 1",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

#[tokio::test]
async fn a_handler_that_fails_twice_then_succeeds_ends_done_after_three_attempts() {
    let t = TestApp::with_env(TEST_HANDLERS).await;
    let d = Delivery::stripe("evt_flaky", "test.fail_n_times", json!({"fail_times": 2}));
    assert_eq!(deliver(&t, &d).await.status, StatusCode::ACCEPTED);
    let p = processor(&t);
    for attempt in 1..=2 {
        let done = p.run_once().await.unwrap().expect("due");
        assert_eq!(done.attempt, attempt);
        let Outcome::Retry { next_attempt_at } = done.outcome else {
            panic!("attempt {attempt}: {done:?}")
        };
        // Backoff: base 1 s doubled per failure, half of it jittered.
        let delay = next_attempt_at - t.state.clock.now_ms();
        let full = 1000 << (attempt - 1);
        assert!((full / 2 - 50..=full + 50).contains(&delay), "{delay}");
        assert_eq!(
            p.run_once().await.unwrap(),
            None,
            "not due before its backoff"
        );
        t.state.clock.advance_secs(5);
    }
    let done = p.run_once().await.unwrap().expect("due");
    assert_eq!((done.attempt, done.outcome), (3, Outcome::Done));

    let e = event(&t, "stripe", "evt_flaky").await;
    assert_eq!(e["status"], "done");
    assert_eq!(e["attempts"], 3);
    assert_eq!(e["last_error"], "test failure 2 of 2");
    assert_eq!(e["note"], "succeeded after 2 failures");
    let log: Vec<(Value, Value)> = e["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["attempt"].clone(), a["outcome"].clone()))
        .collect();
    assert_eq!(
        log,
        vec![
            (json!(1), json!("error")),
            (json!(2), json!("error")),
            (json!(3), json!("done"))
        ]
    );
}

#[tokio::test]
async fn a_poison_event_ends_dead_after_max_attempts_and_can_be_requeued() {
    let t = TestApp::with_env(&[
        ("WEBHOOK_TEST_HANDLERS", "1"),
        ("WEBHOOK_MAX_ATTEMPTS", "3"),
    ])
    .await;
    assert_eq!(
        deliver(
            &t,
            &Delivery::stripe("evt_poison", "test.poison", json!({}))
        )
        .await
        .status,
        StatusCode::ACCEPTED
    );
    let p = processor(&t);
    let mut outcomes = Vec::new();
    while let Some(done) = p.run_once().await.unwrap() {
        outcomes.push(done.outcome.clone());
        t.state.clock.advance_secs(3600);
    }
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    assert!(matches!(outcomes[0], Outcome::Retry { .. }));
    assert!(matches!(outcomes[1], Outcome::Retry { .. }));
    assert_eq!(outcomes[2], Outcome::Dead);
    let e = event(&t, "stripe", "evt_poison").await;
    assert_eq!(e["status"], "dead");
    assert_eq!(e["attempts"], 3);
    assert_eq!(
        e["last_error"],
        "poison event: always fails (attempt 3 of 3)"
    );
    let id = e["id"].as_i64().unwrap();
    let uri = format!("/admin/webhooks/{id}/requeue");

    // Re-queueing needs webhooks:admin; rbac:admin is another power.
    let r = t
        .call(Method::POST, &uri, &As::admin("usr_root"), None)
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::FORBIDDEN, "insufficient_permissions")
    );
    let r = t.call(Method::POST, &uri, &webhook_admin(), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    assert_eq!(r.body["status"], "pending");
    let r = t.call(Method::POST, &uri, &webhook_admin(), None).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::CONFLICT, "webhook_event_not_requeueable")
    );
    let e = event(&t, "stripe", "evt_poison").await;
    assert_eq!(
        (e["status"].clone(), e["attempts"].clone()),
        (json!("pending"), json!(0))
    );
    assert!(t
        .audit_actions()
        .await
        .contains(&"webhook.requeue".to_owned()));
    // A fresh attempt budget; the log keeps the earlier attempts.
    let again = p.run_once().await.unwrap().expect("due at once");
    assert_eq!(again.attempt, 1);
    let e = event(&t, "stripe", "evt_poison").await;
    assert_eq!(e["attempt_log"].as_array().unwrap().len(), 4);

    let r = t
        .call(
            Method::POST,
            "/admin/webhooks/999999/requeue",
            &webhook_admin(),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::NOT_FOUND, "webhook_event_not_found")
    );
}

#[tokio::test]
async fn a_non_retryable_handler_error_goes_dead_at_once() {
    let t = TestApp::new().await;
    // A subscription event without a customer cannot succeed by retrying.
    let d = Delivery::stripe(
        "evt_bad",
        "customer.subscription.deleted",
        json!({"id": "sub_9"}),
    );
    assert_eq!(deliver(&t, &d).await.status, StatusCode::ACCEPTED);
    let done = processor(&t).run_once().await.unwrap().unwrap();
    assert_eq!((done.attempt, done.outcome), (1, Outcome::Dead));
    let e = event(&t, "stripe", "evt_bad").await;
    assert_eq!(e["last_error"], "data.object.customer is missing");
}

#[tokio::test]
async fn an_expired_lease_is_claimed_again_and_the_stale_worker_cannot_overwrite_it() {
    let t = TestApp::with_env(TEST_HANDLERS).await;
    assert_eq!(
        deliver(
            &t,
            &Delivery::stripe("evt_crash", "test.fail_n_times", json!({"fail_times": 0}))
        )
        .await
        .status,
        StatusCode::ACCEPTED
    );
    // A worker claims it and "dies" before finishing (nothing else happens to the row).
    let now = t.state.clock.now_ms();
    let lease_ms = t.state.config.webhooks.lease_secs * 1000;
    let crashed = store::claim(&t.state.db, now, lease_ms, "lease_crashed")
        .await
        .unwrap()
        .expect("claimed");
    assert_eq!(crashed.attempt, 1);
    let p = processor(&t);
    assert_eq!(
        p.run_once().await.unwrap(),
        None,
        "leased: invisible to others"
    );
    t.state
        .clock
        .advance_secs(t.state.config.webhooks.lease_secs - 1);
    assert_eq!(p.run_once().await.unwrap(), None, "lease not expired yet");
    t.state.clock.advance_secs(2);
    let done = p
        .run_once()
        .await
        .unwrap()
        .expect("re-claimed after the lease expired");
    assert_eq!((done.attempt, done.outcome), (2, Outcome::Done));

    // The first worker comes back late: its result is refused, the recorded one stands.
    let late = store::finish(
        &t.state.db,
        t.state.clock.now_ms(),
        &crashed,
        "lease_crashed",
        &Finish::Dead {
            error: "late".into(),
        },
    )
    .await
    .unwrap();
    assert!(!late);
    let stale = p.process(crashed, "lease_crashed").await.unwrap();
    assert_eq!(stale.outcome, Outcome::LeaseLost);
    let e = event(&t, "stripe", "evt_crash").await;
    assert_eq!(
        (e["status"].clone(), e["attempts"].clone()),
        (json!("done"), json!(2))
    );
    let outcomes: Vec<&str> = e["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["abandoned", "done"]);
}

#[tokio::test]
async fn an_event_whose_workers_keep_dying_is_given_up_after_max_attempts() {
    let t = TestApp::with_env(&[("WEBHOOK_MAX_ATTEMPTS", "2")]).await;
    let d = Delivery::stripe("evt_crashloop", "invoice.paid", json!({}));
    assert_eq!(deliver(&t, &d).await.status, StatusCode::ACCEPTED);
    let lease = t.state.config.webhooks.lease_secs;
    for i in 0..2 {
        let now = t.state.clock.now_ms();
        store::claim(&t.state.db, now, lease * 1000, &format!("lease_dies_{i}"))
            .await
            .unwrap()
            .expect("claimed");
        t.state.clock.advance_secs(lease + 1);
    }
    let done = processor(&t).run_once().await.unwrap().unwrap();
    assert_eq!((done.attempt, done.outcome), (3, Outcome::Dead));
}

#[tokio::test]
async fn many_workers_share_the_queue_and_run_each_event_once() {
    let t = TestApp::new().await;
    for i in 0..24 {
        let id = format!("evt_many_{i}");
        let d = Delivery::stripe(
            &id,
            "customer.subscription.updated",
            json!({"id": format!("sub_{i}"), "customer": format!("cus_{i}"), "status": "active"}),
        );
        assert_eq!(deliver(&t, &d).await.status, StatusCode::ACCEPTED);
    }
    let mut workers = Vec::new();
    for w in 0..6 {
        let p = Processor::new(t.state.core.clone(), format!("w{w}"));
        workers.push(tokio::spawn(async move {
            let mut n = 0;
            while let Some(done) = p.run_once().await.unwrap() {
                assert_eq!(done.outcome, Outcome::Done);
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for w in workers {
        total += w.await.unwrap();
    }
    assert_eq!(total, 24);
    assert_eq!(
        count_rows(&t, "SELECT COUNT(*) FROM webhook_attempts").await,
        24
    );
    assert_eq!(
        count_rows(
            &t,
            "SELECT COUNT(*) FROM webhook_events WHERE status = 'done' AND attempts = 1"
        )
        .await,
        24
    );
    assert_eq!(
        count_rows(&t, "SELECT COUNT(*) FROM subscriptions").await,
        24
    );
}

#[tokio::test]
async fn subscription_status_follows_stripe_events_in_event_order_and_pings_are_recorded() {
    let t = TestApp::new().await;
    let p = processor(&t);
    let sub = |id: &'static str, ty: &str, created: i64, status: Option<&str>| {
        let mut obj = json!({"id": "sub_42", "object": "subscription", "customer": "cus_42"});
        if let Some(s) = status {
            obj["status"] = json!(s);
        }
        let body = json!({"id": id, "type": ty, "created": created, "data": {"object": obj}});
        Delivery::new("stripe", id, body.to_string())
    };
    let admin = webhook_admin();
    let get = || t.get("/admin/webhooks/subscriptions/cus_42", &admin);
    let r = get().await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::NOT_FOUND, "subscription_not_found")
    );

    deliver(
        &t,
        &sub(
            "evt_a",
            "customer.subscription.updated",
            100,
            Some("active"),
        ),
    )
    .await;
    p.run_once().await.unwrap().unwrap();
    let r = get().await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        (
            r.body["status"].clone(),
            r.body["subscription_id"].clone(),
            r.body["event_id"].clone()
        ),
        (json!("active"), json!("sub_42"), json!("evt_a"))
    );
    deliver(
        &t,
        &sub("evt_b", "customer.subscription.deleted", 200, None),
    )
    .await;
    p.run_once().await.unwrap().unwrap();
    assert_eq!(get().await.body["status"], "canceled");
    // An older event delivered late does not resurrect the subscription.
    deliver(
        &t,
        &sub(
            "evt_c",
            "customer.subscription.updated",
            150,
            Some("past_due"),
        ),
    )
    .await;
    assert_eq!(p.run_once().await.unwrap().unwrap().outcome, Outcome::Done);
    let r = get().await;
    assert_eq!(
        (r.body["status"].clone(), r.body["event_id"].clone()),
        (json!("canceled"), json!("evt_b"))
    );

    // Unknown types are stored and ignored, not failed.
    deliver(&t, &sub("evt_d", "customer.created", 300, None)).await;
    assert_eq!(
        p.run_once().await.unwrap().unwrap().outcome,
        Outcome::Ignored
    );
    assert_eq!(event(&t, "stripe", "evt_d").await["status"], "ignored");

    let ping = json!({"zen": "Design for failure.", "hook_id": 30, "hook": {"type": "Repository"}});
    let d = Delivery::new("github", "gh-ping-1", ping.to_string()).header("x-github-event", "ping");
    assert_eq!(deliver(&t, &d).await.status, StatusCode::ACCEPTED);
    assert_eq!(p.run_once().await.unwrap().unwrap().outcome, Outcome::Done);
    let e = event(&t, "github", "gh-ping-1").await;
    assert_eq!(
        (e["status"].clone(), e["note"].clone()),
        (json!("done"), json!("ping recorded (hook 30)"))
    );
    let zen: String =
        sqlx::query_scalar("SELECT zen FROM webhook_pings WHERE event_id = 'gh-ping-1'")
            .fetch_one(&t.state.db.pool)
            .await
            .unwrap();
    assert_eq!(zen, "Design for failure.");

    // Subscription reads need webhooks:admin.
    let r = t
        .get(
            "/admin/webhooks/subscriptions/cus_42",
            &As::admin("usr_root"),
        )
        .await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::FORBIDDEN, "insufficient_permissions")
    );
}

#[tokio::test]
async fn the_admin_api_lists_filters_and_paginates_for_webhooks_admin_only() {
    let t = TestApp::new().await;
    let t0 = t.state.clock.now_ms();
    for i in 0..3 {
        let id = format!("evt_l{i}");
        deliver(&t, &Delivery::stripe(&id, "invoice.paid", json!({}))).await;
    }
    t.state.clock.advance_secs(10);
    let t1 = t.state.clock.now_ms();
    for i in 0..2 {
        let id = format!("gh-{i}");
        deliver(
            &t,
            &Delivery::new("github", &id, "{}").header("x-github-event", "push"),
        )
        .await;
    }
    // Process one stripe event: ignored (no handler for invoice.paid).
    let p = processor(&t);
    p.run_once().await.unwrap().unwrap();

    let list = |q: String| {
        let t = &t;
        async move {
            let r = t
                .get(&format!("/admin/webhooks{q}"), &webhook_admin())
                .await;
            assert_eq!(r.status, StatusCode::OK, "{q}: {:?}", r.body);
            r.body
        }
    };
    let ids = |b: &Value| -> Vec<String> {
        b["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = list(String::new()).await;
    assert_eq!(
        ids(&all),
        ["gh-1", "gh-0", "evt_l2", "evt_l1", "evt_l0"],
        "newest first"
    );
    assert_eq!(all["next_before"], Value::Null);
    assert!(
        all["events"][0].get("payload").is_none(),
        "payloads only in the detail view"
    );
    let cases: &[(&str, &[&str])] = &[
        ("?provider=github", &["gh-1", "gh-0"]),
        ("?type=invoice.paid&status=ignored", &["evt_l0"]),
        ("?status=pending&provider=stripe", &["evt_l2", "evt_l1"]),
        ("?status=dead", &[]),
    ];
    for (q, want) in cases {
        assert_eq!(ids(&list(q.to_string()).await), *want, "{q}");
    }
    assert_eq!(
        ids(&list(format!("?until={t1}")).await),
        ["evt_l2", "evt_l1", "evt_l0"]
    );
    assert_eq!(ids(&list(format!("?since={t1}")).await), ["gh-1", "gh-0"]);
    let since_rfc = chrono::DateTime::from_timestamp_millis(t0 - 1000)
        .unwrap()
        .to_rfc3339();
    assert_eq!(
        ids(&list(format!(
            "?since={}&provider=stripe",
            since_rfc.replace('+', "%2B")
        ))
        .await)
        .len(),
        3
    );

    // Cursor pagination walks every event exactly once.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = list(format!("?limit=2{cursor}")).await;
        seen.extend(ids(&page));
        match page["next_before"].as_str() {
            Some(c) => cursor = format!("&before={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ids(&all));

    for (q, err) in [
        ("?status=nope", "invalid_status"),
        ("?limit=0", "invalid_limit"),
        ("?before=x", "invalid_cursor"),
        ("?since=yesterday", "invalid_since"),
    ] {
        let r = t
            .get(&format!("/admin/webhooks{q}"), &webhook_admin())
            .await;
        assert_eq!((r.status, r.error()), (StatusCode::BAD_REQUEST, err), "{q}");
    }
    let r = t.get("/admin/webhooks/424242", &webhook_admin()).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::NOT_FOUND, "webhook_event_not_found")
    );
    let r = t.get("/admin/webhooks/abc", &webhook_admin()).await;
    assert_eq!(
        (r.status, r.error()),
        (StatusCode::NOT_FOUND, "webhook_event_not_found")
    );

    // Who may look: webhooks:admin only.
    let id = all["events"][0]["id"].as_i64().unwrap();
    for path in [
        "/admin/webhooks".to_owned(),
        format!("/admin/webhooks/{id}"),
        "/admin/webhooks/subscriptions/cus_1".to_owned(),
    ] {
        let r = t.get(&path, &As::admin("usr_root")).await;
        assert_eq!(
            (r.status, r.error()),
            (StatusCode::FORBIDDEN, "insufficient_permissions"),
            "{path}"
        );
        let r = t.get(&path, &As::user("usr_1", "ses_1")).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        let r = t.get(&path, &As::anonymous()).await;
        assert_eq!(
            (r.status, r.error()),
            (StatusCode::UNAUTHORIZED, "authentication_required"),
            "{path}"
        );
    }
    let r = t
        .call(
            Method::POST,
            &format!("/admin/webhooks/{id}/requeue"),
            &As::anonymous(),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_admin_role_carries_webhooks_admin_after_migration() {
    let t = TestApp::new().await;
    let mut conn = t.state.db.pool.acquire().await.unwrap();
    let perms: Vec<String> = sqlx::query_scalar(
        "SELECT permission FROM role_permissions WHERE role = 'admin' ORDER BY permission",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert_eq!(perms, ["rbac:admin", "webhooks:admin"]);
}

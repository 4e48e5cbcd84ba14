//! What runs for an event: a registry from (provider, event type) to a handler, and the
//! built-in handlers. A handler may run more than once for one event (a worker can die after
//! the handler's effects and before the event is marked done), so each one is idempotent on
//! the event id it is given.
//!
//! Built in: GitHub `ping` (recorded in `webhook_pings`); Stripe `customer.subscription.updated`
//! and `customer.subscription.deleted` (upsert `subscriptions` by customer id). Test aids, only
//! with `WEBHOOK_TEST_HANDLERS=1`, for Stripe and Standard Webhooks: `test.fail_n_times`
//! (fails while the attempt number is ≤ the body's `fail_times`, default 2), `test.poison`
//! (always fails), `test.sleep` (sleeps the body's `sleep_ms`, ≤ 60 s, then succeeds: lets a
//! test kill the process mid-handler). They touch no table.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use super::Event;
use crate::domain::Core;

/// A handler failure. `retryable: false` sends the event straight to `dead` (retrying a
/// malformed payload cannot help).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    pub message: String,
    pub retryable: bool,
}

impl HandlerError {
    pub fn retry(m: impl Into<String>) -> Self {
        HandlerError {
            message: m.into(),
            retryable: true,
        }
    }
    pub fn permanent(m: impl Into<String>) -> Self {
        HandlerError {
            message: m.into(),
            retryable: false,
        }
    }
}

impl From<sqlx::Error> for HandlerError {
    fn from(e: sqlx::Error) -> Self {
        HandlerError::retry(format!("database: {e}"))
    }
}

/// Success carries an optional note shown on the event.
pub type HandlerResult = Result<Option<String>, HandlerError>;
pub type HandlerFuture = Pin<Box<dyn Future<Output = HandlerResult> + Send + 'static>>;
/// Owned arguments: the processor runs each handler in its own task (a panic becomes a
/// retryable error, a timeout aborts it).
pub type HandlerFn = fn(Arc<Core>, Event) -> HandlerFuture;

#[derive(Clone, Default)]
pub struct Registry {
    map: HashMap<(String, String), HandlerFn>,
}

impl Registry {
    /// The built-in handlers, plus the `test.*` aids when `test_handlers`.
    pub fn new(test_handlers: bool) -> Registry {
        let mut r = Registry::default();
        r.register("github", "ping", |c, e| Box::pin(github_ping(c, e)));
        r.register("stripe", "customer.subscription.updated", |c, e| {
            Box::pin(stripe_subscription(c, e, false))
        });
        r.register("stripe", "customer.subscription.deleted", |c, e| {
            Box::pin(stripe_subscription(c, e, true))
        });
        if test_handlers {
            for p in ["stripe", "standard"] {
                r.register(p, "test.fail_n_times", |_, e| Box::pin(fail_n_times(e)));
                r.register(p, "test.poison", |_, e| Box::pin(poison(e)));
                r.register(p, "test.sleep", |_, e| Box::pin(sleep(e)));
            }
        }
        r
    }

    pub fn register(&mut self, provider: &str, event_type: &str, f: HandlerFn) {
        self.map
            .insert((provider.to_owned(), event_type.to_owned()), f);
    }

    pub fn get(&self, provider: &str, event_type: &str) -> Option<HandlerFn> {
        self.map
            .get(&(provider.to_owned(), event_type.to_owned()))
            .copied()
    }
}

fn body(ev: &Event) -> Result<Value, HandlerError> {
    ev.json()
        .ok_or_else(|| HandlerError::permanent("payload is not json"))
}

/// GitHub's `ping` (sent when a hook is created): recorded once per delivery id.
async fn github_ping(core: Arc<Core>, ev: Event) -> HandlerResult {
    // GitHub can deliver form-encoded payloads; the ping is still recorded, without details.
    let v = ev.json().unwrap_or(Value::Null);
    let hook_id = match &v["hook_id"] {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    };
    let zen = v["zen"].as_str().map(str::to_owned);
    sqlx::query(
        "INSERT INTO webhook_pings (provider, event_id, hook_id, zen, recorded_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (provider, event_id) DO NOTHING",
    )
    .bind(ev.provider.clone())
    .bind(ev.event_id.clone())
    .bind(hook_id.clone())
    .bind(zen)
    .bind(core.clock.now_ms())
    .execute(&core.db.pool)
    .await?;
    Ok(Some(match hook_id {
        Some(h) => format!("ping recorded (hook {h})"),
        None => "ping recorded".to_owned(),
    }))
}

/// `customer.subscription.updated|deleted`: the subscription object is `data.object`.
/// The upsert is a no-op for an event already applied (same event id) and for one older than
/// the stored state (Stripe does not guarantee delivery order).
async fn stripe_subscription(core: Arc<Core>, ev: Event, deleted: bool) -> HandlerResult {
    let v = body(&ev)?;
    let obj = &v["data"]["object"];
    let customer = obj["customer"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| HandlerError::permanent("data.object.customer is missing"))?;
    let sub_id = obj["id"]
        .as_str()
        .ok_or_else(|| HandlerError::permanent("data.object.id is missing"))?;
    let status = match obj["status"].as_str() {
        Some(s) if !s.is_empty() => s,
        _ if deleted => "canceled",
        _ => return Err(HandlerError::permanent("data.object.status is missing")),
    };
    let created = v["created"].as_i64().unwrap_or(0);
    sqlx::query(
        "INSERT INTO subscriptions (customer_id, subscription_id, status, event_id, event_created, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (customer_id) DO UPDATE SET subscription_id = excluded.subscription_id, \
         status = excluded.status, event_id = excluded.event_id, \
         event_created = excluded.event_created, updated_at = excluded.updated_at \
         WHERE subscriptions.event_id <> excluded.event_id \
         AND subscriptions.event_created <= excluded.event_created",
    )
    .bind(customer.to_owned())
    .bind(sub_id.to_owned())
    .bind(status.to_owned())
    .bind(ev.event_id.clone())
    .bind(created)
    .bind(core.clock.now_ms())
    .execute(&core.db.pool)
    .await?;
    Ok(Some(format!(
        "subscription {sub_id} of {customer}: {status}"
    )))
}

/// A number from the body's top level or its `data.object`.
fn param(ev: &Event, name: &str) -> Option<i64> {
    let v = ev.json()?;
    v[name]
        .as_i64()
        .or_else(|| v["data"]["object"][name].as_i64())
}

async fn fail_n_times(ev: Event) -> HandlerResult {
    let n = param(&ev, "fail_times").unwrap_or(2);
    if ev.attempt <= n {
        Err(HandlerError::retry(format!(
            "test failure {} of {n}",
            ev.attempt
        )))
    } else {
        Ok(Some(format!("succeeded after {n} failures")))
    }
}

async fn poison(_ev: Event) -> HandlerResult {
    Err(HandlerError::retry("poison event: always fails"))
}

async fn sleep(ev: Event) -> HandlerResult {
    let ms = param(&ev, "sleep_ms").unwrap_or(1000).clamp(0, 60_000);
    tokio::time::sleep(std::time::Duration::from_millis(ms as u64)).await;
    Ok(Some(format!("slept {ms} ms")))
}

//! Webhook events: what a delivery must carry to be stored, the store itself (exactly one row
//! per provider + event id, enforced by the UNIQUE constraint, never by check-then-insert), the
//! lease-based queue the [`processor`] takes work from, and the admin queries.
//!
//! Lease protocol: a claim sets `locked_until = now + lease`, `locked_by = <fresh token>` and
//! counts the attempt, in one statement that only matches due, unleased rows. Finishing is
//! conditional on still holding the token, so a worker whose lease expired (it stalled, or a
//! new process re-claimed the row after a crash) can never overwrite the newer attempt's result.

pub mod handlers;
pub mod processor;

use edge_auth::webhook::Provider;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::ctx::{Ctx, WEBHOOKS_ADMIN};
use super::error::{DomainError, DomainResult, What};
use super::page::Page;
use super::work::Work;
use super::Core;
use crate::db::{Backend, Db};

pub const MAX_EVENT_ID_LEN: usize = 255;
pub const MAX_EVENT_TYPE_LEN: usize = 255;
/// The GitHub header naming the event type (forwarded by the edge as an ordinary header).
pub const GITHUB_EVENT_HEADER: &str = "x-github-event";

/// Where an event is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Stored, never attempted (or re-queued).
    Pending,
    /// Failed at least once; due again at `next_attempt_at`.
    Retry,
    /// Its handler succeeded.
    Done,
    /// No handler for its (provider, type): stored, deliberately not processed.
    Ignored,
    /// Gave up (max attempts, or a permanent error); re-queue it by hand.
    Dead,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Retry,
        Status::Done,
        Status::Ignored,
        Status::Dead,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Retry => "retry",
            Status::Done => "done",
            Status::Ignored => "ignored",
            Status::Dead => "dead",
        }
    }
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

pub use super::error::ReceiveError;

/// A delivery that passed the checks and can be stored.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub provider: Provider,
    pub event_id: String,
    pub event_type: String,
    pub payload: Vec<u8>,
    pub request_id: Option<String>,
}

pub fn check_event_id(id: Option<&str>) -> Result<String, ReceiveError> {
    let id = id.ok_or(ReceiveError::EventIdMissing)?;
    if id.is_empty() || id.len() > MAX_EVENT_ID_LEN || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ReceiveError::EventIdInvalid);
    }
    Ok(id.to_owned())
}

/// The event type, where each format puts it: Stripe and Standard Webhooks in the JSON body's
/// `type`, GitHub in the `X-GitHub-Event` header (its body may even be form-encoded).
pub fn event_type(
    provider: Provider,
    github_event_header: Option<&str>,
    body: &[u8],
) -> Result<String, ReceiveError> {
    let t = match provider {
        Provider::GitHub => github_event_header
            .ok_or(ReceiveError::EventTypeMissing)?
            .to_owned(),
        Provider::Stripe | Provider::StandardWebhooks => {
            let v: serde_json::Value =
                serde_json::from_slice(body).map_err(|_| ReceiveError::BodyNotJson)?;
            let obj = v.as_object().ok_or(ReceiveError::BodyNotJson)?;
            match obj.get("type") {
                None | Some(serde_json::Value::Null) => return Err(ReceiveError::EventTypeMissing),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(_) => return Err(ReceiveError::EventTypeInvalid),
            }
        }
    };
    if t.is_empty() || t.len() > MAX_EVENT_TYPE_LEN || t.chars().any(char::is_control) {
        return Err(ReceiveError::EventTypeInvalid);
    }
    Ok(t)
}

/// The outcome of [`store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// A new row (its id).
    Accepted(i64),
    /// This (provider, event id) was already stored; nothing written.
    Duplicate,
}

/// One statement: the UNIQUE (provider, event_id) constraint decides, so concurrent copies of
/// one delivery produce exactly one row and no error.
pub async fn store(db: &Db, now: i64, ev: &NewEvent) -> Result<Stored, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO webhook_events \
         (provider, event_id, event_type, payload, received_at, request_id, status, attempts, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $5) \
         ON CONFLICT (provider, event_id) DO NOTHING RETURNING id",
    )
    .bind(ev.provider.id())
    .bind(ev.event_id.clone())
    .bind(ev.event_type.clone())
    .bind(ev.payload.clone())
    .bind(now)
    .bind(ev.request_id.clone())
    .fetch_optional(&db.pool)
    .await?;
    Ok(match row {
        Some(r) => Stored::Accepted(r.try_get("id")?),
        None => Stored::Duplicate,
    })
}

/// The operation behind `POST /webhooks/{provider}`: stores the delivery once, reports it, and
/// wakes an idle worker for a new event.
pub async fn receive(core: &Core, ev: &NewEvent) -> DomainResult<Stored> {
    let stored = store(&core.db, core.clock.now_ms(), ev).await?;
    match stored {
        Stored::Accepted(_) => {
            core.telemetry.webhook_event("received", ev.provider.id());
            core.webhook_wakeup.notify_one();
        }
        Stored::Duplicate => core.telemetry.webhook_event("duplicates", ev.provider.id()),
    }
    Ok(stored)
}

/// A claimed event, as a handler sees it.
#[derive(Debug, Clone)]
pub struct Event {
    /// Our row id (admin API, attempts).
    pub row_id: i64,
    pub provider: String,
    /// The provider's event/delivery id: the key handlers use to stay idempotent.
    pub event_id: String,
    pub event_type: String,
    pub payload: Vec<u8>,
    pub received_at: i64,
    /// 1 for the first attempt (counts claims, including ones whose worker died).
    pub attempt: i64,
}

impl Event {
    /// The payload as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.payload).ok()
    }
}

const DUE: &str = "status IN ('pending', 'retry') AND next_attempt_at <= $3 \
                   AND (locked_until IS NULL OR locked_until < $3)";

/// The claim, per backend. PostgreSQL: `FOR UPDATE SKIP LOCKED` in the subselect so several
/// origin instances pick different rows without waiting on each other (READ COMMITTED re-checks
/// the row's condition once it holds the lock). SQLite: the transaction holds the single write
/// lock (`BEGIN IMMEDIATE`), so select-and-update cannot interleave.
fn claim_sql(backend: Backend) -> String {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    format!(
        "UPDATE webhook_events SET locked_until = $1, locked_by = $2, attempts = attempts + 1 \
         WHERE id = (SELECT id FROM webhook_events WHERE {DUE} \
                     ORDER BY next_attempt_at, id LIMIT 1{lock}) \
         RETURNING id, provider, event_id, event_type, payload, received_at, attempts"
    )
}

/// Takes the next due event under a lease of `lease_ms`, identified by `token`, and opens its
/// attempt row. An earlier attempt left unfinished (its worker died) is closed as `abandoned`.
pub async fn claim(
    db: &Db,
    now: i64,
    lease_ms: i64,
    token: &str,
) -> Result<Option<Event>, sqlx::Error> {
    // Cheap read first: idle workers poll, and on SQLite a claim takes the write lock.
    let due: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT id FROM webhook_events WHERE {} LIMIT 1",
        DUE.replace("$3", "$1")
    ))
    .bind(now)
    .fetch_optional(&db.pool)
    .await?;
    if due.is_none() {
        return Ok(None);
    }
    let mut tx = db.begin().await?;
    let row = sqlx::query(&claim_sql(db.backend))
        .bind(now + lease_ms)
        .bind(token.to_owned())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(row) = row else {
        tx.rollback().await?;
        return Ok(None);
    };
    let ev = Event {
        row_id: row.try_get("id")?,
        provider: row.try_get("provider")?,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        payload: row.try_get("payload")?,
        received_at: row.try_get("received_at")?,
        attempt: row.try_get("attempts")?,
    };
    sqlx::query(
        "UPDATE webhook_attempts SET finished_at = $1, outcome = 'abandoned', \
         error = 'lease expired before the attempt finished (worker died or stalled)' \
         WHERE event_row = $2 AND finished_at IS NULL",
    )
    .bind(now)
    .bind(ev.row_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO webhook_attempts (event_row, attempt, lease, started_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(ev.row_id)
    .bind(ev.attempt)
    .bind(token.to_owned())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(ev))
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    Done { note: Option<String> },
    Ignored,
    Retry { error: String, next_attempt_at: i64 },
    Dead { error: String },
}

/// Records the end of the attempt holding `token`. Returns false (and writes nothing) when
/// the lease was lost: another worker re-claimed the event after it expired.
pub async fn finish(
    db: &Db,
    now: i64,
    ev: &Event,
    token: &str,
    fin: &Finish,
) -> Result<bool, sqlx::Error> {
    let (status, outcome, error, note, next) = match fin {
        Finish::Done { note } => (Status::Done, "done", None, note.clone(), None),
        Finish::Ignored => (
            Status::Ignored,
            "ignored",
            None,
            Some("no handler for this provider and type".to_owned()),
            None,
        ),
        Finish::Retry {
            error,
            next_attempt_at,
        } => (
            Status::Retry,
            "error",
            Some(error.clone()),
            None,
            Some(*next_attempt_at),
        ),
        Finish::Dead { error } => (Status::Dead, "error", Some(error.clone()), None, None),
    };
    let finished_at = next.is_none().then_some(now);
    let mut tx = db.begin().await?;
    let updated = sqlx::query(
        "UPDATE webhook_events SET status = $1, last_error = COALESCE($2, last_error), \
         note = COALESCE($3, note), next_attempt_at = COALESCE($4, next_attempt_at), \
         finished_at = $5, locked_until = NULL, locked_by = NULL \
         WHERE id = $6 AND locked_by = $7",
    )
    .bind(status.as_str())
    .bind(error.clone())
    .bind(note)
    .bind(next)
    .bind(finished_at)
    .bind(ev.row_id)
    .bind(token.to_owned())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query(
        "UPDATE webhook_attempts SET finished_at = $1, outcome = $2, error = $3 \
         WHERE event_row = $4 AND lease = $5",
    )
    .bind(now)
    .bind(outcome)
    .bind(error)
    .bind(ev.row_id)
    .bind(token.to_owned())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// An event as the admin API shows it (payload only in [`EventDetail`]).
#[derive(Debug, Clone, Serialize)]
pub struct EventSummary {
    pub id: i64,
    pub provider: String,
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub status: String,
    pub attempts: i64,
    pub received_at: i64,
    pub next_attempt_at: Option<i64>,
    pub locked_until: Option<i64>,
    pub finished_at: Option<i64>,
    pub last_error: Option<String>,
    pub note: Option<String>,
}

const SUMMARY_COLS: &str = "id, provider, event_id, event_type, status, attempts, received_at, \
                            next_attempt_at, locked_until, finished_at, last_error, note";

fn summary(r: &AnyRow) -> Result<EventSummary, sqlx::Error> {
    let status: String = r.try_get("status")?;
    let queued = matches!(
        Status::parse(&status),
        Some(Status::Pending | Status::Retry)
    );
    Ok(EventSummary {
        id: r.try_get("id")?,
        provider: r.try_get("provider")?,
        event_id: r.try_get("event_id")?,
        event_type: r.try_get("event_type")?,
        attempts: r.try_get("attempts")?,
        received_at: r.try_get("received_at")?,
        next_attempt_at: if queued {
            Some(r.try_get("next_attempt_at")?)
        } else {
            None
        },
        locked_until: r.try_get("locked_until")?,
        finished_at: r.try_get("finished_at")?,
        last_error: r.try_get("last_error")?,
        note: r.try_get("note")?,
        status,
    })
}

/// Filters of the admin list; empty strings / `None` mean "any".
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub provider: Option<String>,
    /// The provider's event id.
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub status: Option<Status>,
    /// received_at ≥ since (ms)
    pub since: Option<i64>,
    /// received_at < until (ms)
    pub until: Option<i64>,
}

/// Newest first; the page cursor is the last event's row id.
pub async fn list(
    core: &Core,
    ctx: &Ctx,
    f: &ListFilter,
    page: Page,
) -> DomainResult<Vec<EventSummary>> {
    ctx.require(WEBHOOKS_ADMIN)?;
    let mut conn = core.db.pool.acquire().await?;
    Ok(list_in(&mut conn, f, page).await?)
}

async fn list_in(
    conn: &mut AnyConnection,
    f: &ListFilter,
    page: Page,
) -> Result<Vec<EventSummary>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {SUMMARY_COLS} FROM webhook_events \
         WHERE id < $1 AND ($2 = '' OR provider = $2) AND ($3 = '' OR event_type = $3) \
         AND ($4 = '' OR status = $4) AND received_at >= $5 AND received_at < $6 \
         AND ($8 = '' OR event_id = $8) ORDER BY id DESC LIMIT $7"
    ))
    .bind(page.before.unwrap_or(i64::MAX))
    .bind(f.provider.clone().unwrap_or_default())
    .bind(f.event_type.clone().unwrap_or_default())
    .bind(f.status.map(Status::as_str).unwrap_or(""))
    .bind(f.since.unwrap_or(i64::MIN))
    .bind(f.until.unwrap_or(i64::MAX))
    .bind(page.limit)
    .bind(f.event_id.clone().unwrap_or_default())
    .fetch_all(conn)
    .await?;
    rows.iter().map(summary).collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub attempt: i64,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// `done`, `ignored`, `error`, `abandoned`, or null while running.
    pub outcome: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventDetail {
    #[serde(flatten)]
    pub summary: EventSummary,
    pub request_id: Option<String>,
    pub payload: Vec<u8>,
    pub attempt_log: Vec<Attempt>,
}

/// Our row ids are positive integers: anything else names no event.
fn row_id(id: &str) -> DomainResult<i64> {
    id.parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or(DomainError::NotFound(What::WebhookEvent))
}

/// One event (by our row id) with its payload and attempt log.
pub async fn event(core: &Core, ctx: &Ctx, id: &str) -> DomainResult<EventDetail> {
    ctx.require(WEBHOOKS_ADMIN)?;
    let id = row_id(id)?;
    let mut conn = core.db.pool.acquire().await?;
    get(&mut conn, id)
        .await?
        .ok_or(DomainError::NotFound(What::WebhookEvent))
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<EventDetail>, sqlx::Error> {
    let Some(r) = sqlx::query(&format!(
        "SELECT {SUMMARY_COLS}, request_id, payload FROM webhook_events WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let attempts = sqlx::query(
        "SELECT attempt, started_at, finished_at, outcome, error FROM webhook_attempts \
         WHERE event_row = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|a| {
        Ok(Attempt {
            attempt: a.try_get("attempt")?,
            started_at: a.try_get("started_at")?,
            finished_at: a.try_get("finished_at")?,
            outcome: a.try_get("outcome")?,
            error: a.try_get("error")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Some(EventDetail {
        summary: summary(&r)?,
        request_id: r.try_get("request_id")?,
        payload: r.try_get("payload")?,
        attempt_log: attempts,
    }))
}

/// The outcome of [`requeue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    Requeued,
    NotFound,
    /// Done, ignored, pending, or leased right now: nothing to re-queue.
    NotRequeueable,
}

/// The operation behind the admin re-queue: [`requeue`] it, audit it, wake a worker.
/// Returns the event's row id.
pub async fn requeue_event(core: &Core, ctx: &Ctx, id: &str) -> DomainResult<i64> {
    ctx.require(WEBHOOKS_ADMIN)?;
    let id = row_id(id)?;
    let mut w = Work::begin(core, ctx).await?;
    let now = w.now;
    match requeue(w.conn(), id, now).await? {
        Requeue::NotFound => return Err(DomainError::NotFound(What::WebhookEvent)),
        Requeue::NotRequeueable => return Err(DomainError::WebhookNotRequeueable),
        Requeue::Requeued => {}
    }
    w.audit(
        "webhook.requeue",
        Some(&id.to_string()),
        serde_json::json!({}),
    )
    .await?;
    w.commit().await?;
    core.webhook_wakeup.notify_one();
    Ok(id)
}

/// A `dead` or `retry` event (not currently leased) becomes `pending`, due now, with a fresh
/// attempt budget. The attempt log keeps the earlier attempts.
pub async fn requeue(conn: &mut AnyConnection, id: i64, now: i64) -> Result<Requeue, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE webhook_events SET status = 'pending', attempts = 0, next_attempt_at = $2, \
         finished_at = NULL, locked_until = NULL, locked_by = NULL \
         WHERE id = $1 AND status IN ('dead', 'retry') \
         AND (locked_until IS NULL OR locked_until < $2)",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n == 1 {
        return Ok(Requeue::Requeued);
    }
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM webhook_events WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(if exists.is_some() {
        Requeue::NotRequeueable
    } else {
        Requeue::NotFound
    })
}

/// A customer's subscription as the Stripe handlers last recorded it.
#[derive(Debug, Clone, Serialize)]
pub struct Subscription {
    pub customer_id: String,
    pub subscription_id: String,
    pub status: String,
    /// The Stripe event that set this state.
    pub event_id: String,
    /// That event's `created` (unix seconds).
    pub event_created: i64,
    pub updated_at: i64,
}

/// The subscription of `customer` as the Stripe handlers last recorded it.
pub async fn subscription_of(core: &Core, ctx: &Ctx, customer: &str) -> DomainResult<Subscription> {
    ctx.require(WEBHOOKS_ADMIN)?;
    let mut conn = core.db.pool.acquire().await?;
    subscription(&mut conn, customer)
        .await?
        .ok_or(DomainError::NotFound(What::Subscription))
}

pub async fn subscription(
    conn: &mut AnyConnection,
    customer: &str,
) -> Result<Option<Subscription>, sqlx::Error> {
    let r = sqlx::query(
        "SELECT customer_id, subscription_id, status, event_id, event_created, updated_at \
         FROM subscriptions WHERE customer_id = $1",
    )
    .bind(customer.to_owned())
    .fetch_optional(conn)
    .await?;
    r.map(|r| {
        Ok(Subscription {
            customer_id: r.try_get("customer_id")?,
            subscription_id: r.try_get("subscription_id")?,
            status: r.try_get("status")?,
            event_id: r.try_get("event_id")?,
            event_created: r.try_get("event_created")?,
            updated_at: r.try_get("updated_at")?,
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_comes_from_where_each_format_puts_it() {
        let json = br#"{"id":"evt_1","type":"invoice.paid"}"#;
        // (format, X-GitHub-Event, body, expected)
        type Case<'a> = (
            Provider,
            Option<&'a str>,
            &'a [u8],
            Result<&'a str, ReceiveError>,
        );
        let cases: &[Case] = &[
            (Provider::Stripe, None, json, Ok("invoice.paid")),
            (Provider::StandardWebhooks, None, json, Ok("invoice.paid")),
            (
                Provider::GitHub,
                Some("ping"),
                b"payload=%7B%7D",
                Ok("ping"),
            ),
            (
                Provider::GitHub,
                None,
                json,
                Err(ReceiveError::EventTypeMissing),
            ),
            (
                Provider::Stripe,
                Some("ping"),
                b"not json",
                Err(ReceiveError::BodyNotJson),
            ),
            (
                Provider::Stripe,
                None,
                b"[1]",
                Err(ReceiveError::BodyNotJson),
            ),
            (
                Provider::Stripe,
                None,
                br#"{"id":"x"}"#,
                Err(ReceiveError::EventTypeMissing),
            ),
            (
                Provider::Stripe,
                None,
                br#"{"type":7}"#,
                Err(ReceiveError::EventTypeInvalid),
            ),
            (
                Provider::Stripe,
                None,
                br#"{"type":""}"#,
                Err(ReceiveError::EventTypeInvalid),
            ),
            (
                Provider::GitHub,
                Some("a\u{7}b"),
                b"",
                Err(ReceiveError::EventTypeInvalid),
            ),
        ];
        for (p, h, body, want) in cases {
            let got = event_type(*p, *h, body);
            assert_eq!(
                got.as_deref().map_err(Clone::clone),
                want.clone(),
                "{p:?} {h:?}"
            );
        }
    }

    #[test]
    fn event_ids_must_be_short_printable_ascii() {
        assert_eq!(check_event_id(Some("evt_1")).as_deref(), Ok("evt_1"));
        assert_eq!(check_event_id(None), Err(ReceiveError::EventIdMissing));
        assert_eq!(check_event_id(Some("")), Err(ReceiveError::EventIdInvalid));
        assert_eq!(
            check_event_id(Some("a b")),
            Err(ReceiveError::EventIdInvalid)
        );
        let long = "x".repeat(MAX_EVENT_ID_LEN + 1);
        assert_eq!(
            check_event_id(Some(&long)),
            Err(ReceiveError::EventIdInvalid)
        );
    }
}

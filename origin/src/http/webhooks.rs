//! Webhook routes: `POST /webhooks/{provider}` (webhook envelopes only: store, answer, nothing
//! slow before the answer) and the admin API (`webhooks:admin`): list, show, re-queue, and the
//! subscription status the Stripe handlers maintain.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use edge_auth::webhook::Provider;
use serde::Deserialize;
use serde_json::json;

use super::envelope::{AuthUser, EdgeIdentity};
use super::extract::{ApiQuery, RequestCtx};
use super::AppState;
use crate::domain::webhooks::{self, ListFilter, NewEvent, ReceiveError, Status, Stored};
use crate::domain::Page;
use crate::error::{bad_request, forbidden, AppError, AppResult, Problem};

/// Separate from `rbac:admin`: reading payment events and replaying them is its own power
/// (checked by the domain operations).
pub use crate::domain::ctx::WEBHOOKS_ADMIN;

/// Checks in order: a webhook envelope (not a user, not anonymous) → 403
/// `webhook_identity_required`; its provider is the path's → 403 `webhook_provider_mismatch`;
/// a known format → 404; the event id → 422; the body size → 413; the type → 400/422. Then one
/// INSERT … ON CONFLICT DO NOTHING: 202 accepted or 200 duplicate.
pub async fn receive(
    State(state): State<AppState>,
    identity: EdgeIdentity,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> AppResult<Response> {
    let signed_provider = match identity.webhook_provider() {
        Some(p) if identity.user().is_none() => p,
        _ => return Err(forbidden("webhook_identity_required")),
    };
    if signed_provider != provider {
        return Err(forbidden("webhook_provider_mismatch"));
    }
    let provider = Provider::from_id(&provider).ok_or(ReceiveError::UnknownProvider)?;
    let event_id = webhooks::check_event_id(identity.webhook_id())?;
    let max = state.config.webhooks.max_body_bytes;
    let payload = axum::body::to_bytes(body, max).await.map_err(|_| {
        AppError::from(
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
                .detail(format!("webhook payloads are limited to {max} bytes")),
        )
    })?;
    let github_event = headers
        .get(webhooks::GITHUB_EVENT_HEADER)
        .map(|v| v.to_str().map_err(|_| ReceiveError::EventTypeInvalid))
        .transpose()?;
    let event_type = webhooks::event_type(provider, github_event, &payload)?;
    let ev = NewEvent {
        provider,
        event_id,
        event_type,
        payload: payload.to_vec(),
        request_id: identity.request_id.clone(),
    };
    Ok(match webhooks::receive(&state, &ev).await? {
        Stored::Accepted(_) => {
            (StatusCode::ACCEPTED, Json(json!({"status": "accepted"}))).into_response()
        }
        Stored::Duplicate => (StatusCode::OK, Json(json!({"status": "duplicate"}))).into_response(),
    })
}

#[derive(Deserialize)]
pub struct ListQuery {
    provider: Option<String>,
    event_id: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    status: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// Unix milliseconds, or an RFC 3339 date-time.
fn parse_time(v: &str) -> Option<i64> {
    if let Ok(ms) = v.parse::<i64>() {
        return (ms >= 0).then_some(ms);
    }
    chrono::DateTime::parse_from_rfc3339(v)
        .ok()
        .map(|t| t.timestamp_millis())
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    page: Page,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> AppResult<Json<serde_json::Value>> {
    let time = |v: Option<String>, id: &'static str| -> AppResult<Option<i64>> {
        match nonempty(v) {
            None => Ok(None),
            Some(s) => parse_time(&s).map(Some).ok_or_else(|| bad_request(id)),
        }
    };
    let status = match nonempty(q.status) {
        None => None,
        Some(s) => Some(Status::parse(&s).ok_or_else(|| {
            AppError::from(
                Problem::new(StatusCode::BAD_REQUEST, "invalid_status")
                    .detail("one of pending, retry, done, ignored, dead"),
            )
        })?),
    };
    let f = ListFilter {
        provider: nonempty(q.provider),
        event_id: nonempty(q.event_id),
        event_type: nonempty(q.event_type),
        status,
        since: time(q.since, "invalid_since")?,
        until: time(q.until, "invalid_until")?,
    };
    let events = webhooks::list(&state, &user.ctx(rc), &f, page).await?;
    let next = page.next_before(&events, |e| e.id);
    Ok(Json(json!({ "events": events, "next_before": next })))
}

pub async fn show(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path(id): Path<String>,
) -> AppResult<Json<serde_json::Value>> {
    let d = webhooks::event(&state, &user.ctx(rc), &id).await?;
    let mut v = serde_json::to_value(&d.summary).map_err(|e| AppError::Internal(e.to_string()))?;
    v["request_id"] = json!(d.request_id);
    v["attempt_log"] = json!(d.attempt_log);
    // Text payloads as text; anything else as base64 (the bytes are kept exactly as received).
    match std::str::from_utf8(&d.payload) {
        Ok(s) => v["payload"] = json!(s),
        Err(_) => {
            v["payload_base64"] =
                json!(base64::engine::general_purpose::STANDARD.encode(&d.payload))
        }
    }
    Ok(Json(v))
}

pub async fn requeue(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = webhooks::requeue_event(&state, &user.ctx(rc), &id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": id, "status": "pending" })),
    )
        .into_response())
}

pub async fn subscription(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path(customer): Path<String>,
) -> AppResult<Json<serde_json::Value>> {
    let s = webhooks::subscription_of(&state, &user.ctx(rc), &customer).await?;
    Ok(Json(json!(s)))
}

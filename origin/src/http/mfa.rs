//! The signed-in user's second factors: TOTP enrolment, confirmation, status, disabling.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::auth::SecondFactor;
use super::envelope::AuthUser;
use super::extract::{ApiJson, RequestCtx};
use super::AppState;
use crate::domain::mfa;
use crate::error::AppResult;

fn no_store(body: serde_json::Value) -> Response {
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(body),
    )
        .into_response()
}

pub async fn status(State(state): State<AppState>, user: AuthUser) -> AppResult<Response> {
    let s = mfa::status(&state, &user.user_id).await?;
    Ok(no_store(json!(s)))
}

pub async fn enroll(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
) -> AppResult<Response> {
    let e = mfa::enroll(&state, &user.ctx(rc), &user.user_id).await?;
    Ok(no_store(json!(e)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Confirm {
    code: String,
}

pub async fn confirm(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    ApiJson(b): ApiJson<Confirm>,
) -> AppResult<Response> {
    let codes = mfa::confirm(&state, &user.ctx(rc), &user.user_id, &b.code).await?;
    Ok(no_store(
        json!({ "totp_enabled": true, "recovery_codes": codes }),
    ))
}

pub async fn disable(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    ApiJson(b): ApiJson<SecondFactor>,
) -> AppResult<Response> {
    let code = b.into_code()?;
    mfa::disable(&state, &user.ctx(rc), &user.user_id, &code).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// New recovery codes (the old ones stop working), shown once.
pub async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
) -> AppResult<Response> {
    let codes = mfa::regenerate_recovery_codes(&state, &user.ctx(rc), &user.user_id).await?;
    Ok(no_store(json!({ "recovery_codes": codes })))
}

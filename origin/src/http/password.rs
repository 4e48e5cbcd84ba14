//! Password reset and e-mail verification by mailed links, and password change.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::envelope::AuthUser;
use super::extract::{ApiJson, RequestCtx};
use super::AppState;
use crate::domain::{accounts, credentials};
use crate::error::AppResult;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forgot {
    email: String,
}

/// The same 202 whether or not an account has the address.
pub async fn forgot(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiJson(b): ApiJson<Forgot>,
) -> AppResult<Response> {
    credentials::request_password_reset(&state, &ctx, &b.email).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "status": "if an account has this address, a reset link is on its way" })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reset {
    token: String,
    password: String,
}

pub async fn reset(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiJson(b): ApiJson<Reset>,
) -> AppResult<Response> {
    credentials::reset_password(&state, &ctx, &b.token, b.password).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    token: String,
}

pub async fn verify_email(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiJson(b): ApiJson<Verify>,
) -> AppResult<Response> {
    credentials::verify_email(&state, &ctx, &b.token).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn send_verification(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
) -> AppResult<Response> {
    credentials::request_email_verification(&state, &user.ctx(rc), &user.user_id).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "status": "sent" }))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    current_password: String,
    new_password: String,
}

pub async fn change(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    ApiJson(b): ApiJson<Change>,
) -> AppResult<Response> {
    let ended = credentials::change_password(
        &state,
        &user.ctx(rc),
        &user.user_id,
        b.current_password,
        b.new_password,
    )
    .await?;
    Ok(Json(json!({ "sessions_ended": ended })).into_response())
}

/// Deletes my account (needs a recent authentication); the browser's cookies are cleared.
pub async fn delete_account(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
) -> AppResult<Response> {
    accounts::delete_account(&state, &user.ctx(rc), &user.user_id).await?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    super::auth::clear_cookies(&state, res.headers_mut());
    Ok(res)
}

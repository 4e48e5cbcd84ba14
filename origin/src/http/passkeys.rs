//! Passkey routes: the account's passkeys (list, add, remove), usernameless sign-in, a passkey
//! as the second step of a log-in, and step-up with a passkey. Each ceremony is an `options`
//! request (what `navigator.credentials` needs, plus a `challenge_id`) and a finishing request.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use super::auth::{step_up_response, token_response};
use super::envelope::AuthUser;
use super::extract::{is_browser, ApiJson, RequestCtx};
use super::AppState;
use crate::domain::passkeys::{self, Ceremony};
use crate::error::AppResult;

fn no_store(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(body),
    )
        .into_response()
}

fn options(c: Ceremony) -> Response {
    no_store(StatusCode::OK, json!(c))
}

pub async fn list(State(state): State<AppState>, user: AuthUser) -> AppResult<Response> {
    let list = passkeys::list(&state, &user.user_id).await?;
    Ok(no_store(StatusCode::OK, json!({ "passkeys": list })))
}

pub async fn register_options(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
) -> AppResult<Response> {
    let c = passkeys::register_start(&state, &user.ctx(rc), &user.user_id).await?;
    Ok(options(c))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Register {
    challenge_id: String,
    name: Option<String>,
    credential: RegisterPublicKeyCredential,
}

pub async fn register(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    ApiJson(b): ApiJson<Register>,
) -> AppResult<Response> {
    let p = passkeys::register_finish(
        &state,
        &user.ctx(rc),
        &user.user_id,
        &b.challenge_id,
        b.name.as_deref(),
        &b.credential,
    )
    .await?;
    Ok(no_store(StatusCode::CREATED, json!(p)))
}

pub async fn remove(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path(id): Path<String>,
) -> AppResult<Response> {
    passkeys::remove(&state, &user.ctx(rc), &user.user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn login_options(State(state): State<AppState>) -> AppResult<Response> {
    Ok(options(passkeys::login_start(&state).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assertion {
    challenge_id: String,
    credential: PublicKeyCredential,
}

pub async fn login(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    headers: HeaderMap,
    ApiJson(b): ApiJson<Assertion>,
) -> AppResult<Response> {
    let issued = passkeys::login_finish(&state, &ctx, &b.challenge_id, &b.credential).await?;
    Ok(token_response(&state, &issued, is_browser(&headers)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaOptions {
    mfa_token: String,
}

pub async fn mfa_options(
    State(state): State<AppState>,
    ApiJson(b): ApiJson<MfaOptions>,
) -> AppResult<Response> {
    Ok(options(
        passkeys::second_factor_start(&state, &b.mfa_token).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaAssertion {
    mfa_token: String,
    challenge_id: String,
    credential: PublicKeyCredential,
}

pub async fn mfa(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    headers: HeaderMap,
    ApiJson(b): ApiJson<MfaAssertion>,
) -> AppResult<Response> {
    let issued =
        passkeys::second_factor_finish(&state, &ctx, &b.mfa_token, &b.challenge_id, &b.credential)
            .await?;
    Ok(token_response(&state, &issued, is_browser(&headers)))
}

pub async fn step_up_options(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
) -> AppResult<Response> {
    let c = passkeys::step_up_start(&state, &user.ctx(rc), &user.user_id).await?;
    Ok(options(c))
}

pub async fn step_up(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    headers: HeaderMap,
    ApiJson(b): ApiJson<Assertion>,
) -> AppResult<Response> {
    let t = passkeys::step_up_finish(
        &state,
        &user.ctx(rc),
        &user.user_id,
        &b.challenge_id,
        &b.credential,
    )
    .await?;
    Ok(step_up_response(&state, &t, is_browser(&headers)))
}

//! The signed-in user's own account: profile and sessions.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::envelope::AuthUser;
use super::extract::RequestCtx;
use super::AppState;
use crate::domain::{sessions, users, DomainError, What};
use crate::error::AppResult;

/// GET /api/account: id, e-mail, when it was verified, created, whether a password is set.
pub async fn profile(
    State(state): State<AppState>,
    user: AuthUser,
) -> AppResult<Json<users::Profile>> {
    let p = users::profile(&state, &user.user_id)
        .await?
        .ok_or(DomainError::NotFound(What::User))?;
    Ok(Json(p))
}

pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> AppResult<Json<serde_json::Value>> {
    let list = sessions::list(&state, &user.user_id, user.session_id.as_deref()).await?;
    Ok(Json(json!({ "sessions": list })))
}

pub async fn revoke(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path(id): Path<String>,
) -> AppResult<Response> {
    sessions::revoke(&state, &user.ctx(rc), &user.user_id, &id, "revoked_by_user").await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

//! The signed-in user's own sessions.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::envelope::AuthUser;
use super::extract::RequestCtx;
use super::AppState;
use crate::domain::sessions;
use crate::error::AppResult;

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

//! `GET /auth/session`: when the caller's session ends, for the pages' expiry warning. The rule
//! lives in `domain::sessions` ([`sessions::status`]); this only reads the verified envelope.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::envelope::AuthUser;
use super::AppState;
use crate::domain::sessions;
use crate::error::{bad_request, AppResult};

pub async fn status(State(state): State<AppState>, user: AuthUser) -> AppResult<Response> {
    let sid = user
        .session_id
        .as_deref()
        .ok_or_else(|| bad_request("session_missing"))?;
    let s = sessions::status(&state, &user.user_id, sid, user.identity.expires_at()).await?;
    Ok((
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(s),
    )
        .into_response())
}

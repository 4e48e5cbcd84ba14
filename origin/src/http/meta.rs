//! Liveness, the caller's identity as received, and the problem+json 404.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::envelope::EdgeIdentity;
use super::AppState;
use crate::error::{not_found as nf, AppError};

pub async fn healthz(State(state): State<AppState>) -> Response {
    match sqlx::query_scalar::<_, i64>("SELECT 1")
        .fetch_one(&state.db.pool)
        .await
    {
        Ok(_) => Json(json!({"status": "ok"})).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "database_unavailable"})),
            )
                .into_response()
        }
    }
}

/// The identity exactly as the edge signed it.
pub async fn me(id: EdgeIdentity) -> Json<serde_json::Value> {
    Json(json!({
        "user": id.user(),
        "session": id.session(),
        "roles": id.roles(),
        "permissions": id.permissions(),
        "issuer": id.issuer(),
        "anonymous": id.user().is_none() && id.webhook_provider().is_none(),
        "webhook_provider": id.webhook_provider(),
        "request_id": id.request_id,
    }))
}

pub async fn not_found() -> AppError {
    nf("not_found")
}

pub async fn method_not_allowed() -> AppError {
    crate::error::Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").into()
}

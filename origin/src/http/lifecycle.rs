//! Readiness for a load balancer: `/readyz` says whether this process should get traffic now
//! (database reachable, every migration it carries applied, not shutting down). `/healthz`
//! stays the liveness check.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::AppState;

/// Process-wide lifecycle flags shared by every clone of the state.
#[derive(Clone, Debug, Default)]
pub struct Lifecycle {
    draining: Arc<AtomicBool>,
}

impl Lifecycle {
    /// From now on `/readyz` answers 503 `shutting_down`; requests are still served.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

/// `GET /readyz`: 200 `{"status": "ready"}`, or 503 `{"status": "not_ready", "reason": …}` with
/// `database_unreachable`, `migrations_pending` (and which) or `shutting_down`.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let not_ready = |reason: &str, extra: serde_json::Value| {
        let mut body = json!({"status": "not_ready", "reason": reason});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    };
    if state.lifecycle.is_draining() {
        return not_ready("shutting_down", json!({}));
    }
    match state.db.migration_state().await {
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            not_ready("database_unreachable", json!({}))
        }
        Ok(m) if !m.pending.is_empty() => {
            not_ready("migrations_pending", json!({"pending": m.pending}))
        }
        // Applied migrations newer than this binary: a rolling upgrade is under way and they
        // are additive, so this process still serves.
        Ok(m) => Json(json!({"status": "ready", "newer_migrations": m.newer})).into_response(),
    }
}

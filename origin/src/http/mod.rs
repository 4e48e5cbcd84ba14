//! HTTP layer: the router, the envelope check, extractors, and one module per route group.

pub mod envelope;
pub mod meta;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

use crate::config::Config;
use crate::db::Db;
use crate::domain::clock::Clock;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub clock: Clock,
}

impl AppState {
    pub async fn new(config: Config, db: Db, clock: Clock) -> Result<AppState, String> {
        Ok(AppState {
            config: Arc::new(config),
            db,
            clock,
        })
    }
}

/// The whole origin as one router (tests call it with `oneshot`, no socket).
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(meta::healthz))
        .route("/api/me", get(meta::me))
        .fallback(meta::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            envelope::require_envelope,
        ))
        .with_state(state)
}

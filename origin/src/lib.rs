//! edge-auth origin: the identity service behind the edge (accounts, sessions and refresh
//! tokens, signing keys + JWKS, RBAC, revocation feed, idempotency keys, audit log, webhook
//! event store and its background processor).
//!
//! Layers: `http` (axum routes, the envelope check, problem+json) → `domain` (rules) → `db` (SQL).
//! `http::app(state)` builds the whole router so tests drive it with `oneshot`, no socket.

pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod http;

pub use http::{app, AppState};

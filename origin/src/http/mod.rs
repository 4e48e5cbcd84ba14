//! HTTP layer: the router, the envelope check, extractors, and one module per route group.

pub mod account;
pub mod admin;
pub mod auth;
pub mod envelope;
pub mod extract;
pub mod idempotency;
pub mod internal;
pub mod lifecycle;
pub mod meta;
pub mod mfa;
pub mod observe;
pub mod openapi;
pub mod passkeys;
pub mod password;
pub mod session;
pub mod social;
pub mod webhooks;
pub mod wellknown;

use std::ops::Deref;
use std::sync::Arc;

use axum::routing::{delete, get, post, put};
use axum::Router;

use crate::config::Config;
use crate::db::Db;
use crate::domain::clock::Clock;
use crate::domain::Core;

/// Everything a handler needs; cheap to clone. Derefs to the domain [`Core`].
#[derive(Clone)]
pub struct AppState {
    pub core: Arc<Core>,
    /// The Prometheus registry; the core reports into it through its `Telemetry` trait.
    pub metrics: Arc<observe::Metrics>,
    /// Readiness flags (draining on shutdown), shared by every clone.
    pub lifecycle: lifecycle::Lifecycle,
}

impl Deref for AppState {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

impl AppState {
    pub async fn new(config: Config, db: Db, clock: Clock) -> Result<AppState, String> {
        let metrics = Arc::new(observe::Metrics::default());
        let core = Core::with_telemetry(config, db, clock, metrics.clone()).await?;
        Ok(AppState {
            core: Arc::new(core),
            metrics,
            lifecycle: lifecycle::Lifecycle::default(),
        })
    }
}

/// Every (method, path) the router serves; the OpenAPI test checks the document against it.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/.well-known/jwks.json"),
    ("get", "/.well-known/openid-configuration"),
    ("post", "/auth/signup"),
    ("post", "/auth/login"),
    ("post", "/auth/login/mfa"),
    ("post", "/auth/step-up"),
    ("post", "/auth/step-up/passkey/options"),
    ("post", "/auth/step-up/passkey"),
    ("post", "/auth/passkey/options"),
    ("post", "/auth/passkey/login"),
    ("post", "/auth/login/mfa/passkey/options"),
    ("post", "/auth/login/mfa/passkey"),
    ("post", "/auth/password/forgot"),
    ("post", "/auth/password/reset"),
    ("post", "/auth/email/verify"),
    ("post", "/auth/refresh"),
    ("post", "/auth/logout"),
    ("post", "/auth/logout-all"),
    ("get", "/auth/session"),
    ("get", "/auth/oauth/providers"),
    ("get", "/auth/oauth/{provider}/start"),
    ("get", "/auth/oauth/{provider}/callback"),
    ("get", "/api/identities"),
    ("post", "/api/identities/{provider}/link"),
    ("delete", "/api/identities/{provider}"),
    ("get", "/api/me"),
    ("get", "/api/account"),
    ("get", "/api/sessions"),
    ("delete", "/api/sessions/{id}"),
    ("get", "/api/mfa"),
    ("post", "/api/mfa/totp/enroll"),
    ("post", "/api/mfa/totp/confirm"),
    ("post", "/api/mfa/totp/disable"),
    ("post", "/api/mfa/recovery-codes"),
    ("get", "/api/passkeys"),
    ("post", "/api/passkeys/options"),
    ("post", "/api/passkeys"),
    ("delete", "/api/passkeys/{id}"),
    ("post", "/api/email/verification"),
    ("post", "/api/password/change"),
    ("delete", "/api/account"),
    ("get", "/internal/revocations"),
    ("get", "/admin/roles"),
    ("post", "/admin/roles"),
    ("delete", "/admin/roles/{name}"),
    ("put", "/admin/roles/{name}/parent"),
    ("put", "/admin/roles/{name}/permissions/{permission}"),
    ("delete", "/admin/roles/{name}/permissions/{permission}"),
    ("get", "/admin/permissions"),
    ("post", "/admin/permissions"),
    ("get", "/admin/users"),
    ("get", "/admin/users/{id}"),
    ("put", "/admin/users/{id}/roles/{role}"),
    ("delete", "/admin/users/{id}/roles/{role}"),
    ("post", "/admin/users/{id}/disable"),
    ("post", "/admin/users/{id}/enable"),
    ("get", "/admin/sod"),
    ("post", "/admin/sod"),
    ("delete", "/admin/sod/{a}/{b}"),
    ("post", "/admin/keys/rotate"),
    ("get", "/admin/audit"),
    ("post", "/webhooks/{provider}"),
    ("get", "/admin/webhooks"),
    ("get", "/admin/webhooks/{id}"),
    ("post", "/admin/webhooks/{id}/requeue"),
    ("get", "/admin/webhooks/subscriptions/{customer}"),
    ("post", "/graphql"),
];

/// The whole origin as one router (tests call it with `oneshot`, no socket).
/// Layers, outermost first: observe (log + metrics) → envelope → idempotency → handler.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(meta::healthz))
        .route("/readyz", get(lifecycle::readyz))
        .route("/metrics", get(observe::metrics))
        .route("/openapi.json", get(openapi::openapi))
        .route("/.well-known/jwks.json", get(wellknown::jwks))
        .route(
            "/.well-known/openid-configuration",
            get(wellknown::openid_configuration),
        )
        .route("/auth/signup", post(auth::signup))
        .route("/auth/login", post(auth::login))
        .route("/auth/login/mfa", post(auth::login_mfa))
        .route("/auth/step-up", post(auth::step_up))
        .route(
            "/auth/step-up/passkey/options",
            post(passkeys::step_up_options),
        )
        .route("/auth/step-up/passkey", post(passkeys::step_up))
        .route("/auth/passkey/options", post(passkeys::login_options))
        .route("/auth/passkey/login", post(passkeys::login))
        .route(
            "/auth/login/mfa/passkey/options",
            post(passkeys::mfa_options),
        )
        .route("/auth/login/mfa/passkey", post(passkeys::mfa))
        .route("/auth/password/forgot", post(password::forgot))
        .route("/auth/password/reset", post(password::reset))
        .route("/auth/email/verify", post(password::verify_email))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/logout-all", post(auth::logout_all))
        .route("/auth/session", get(session::status))
        .route("/auth/oauth/providers", get(social::providers))
        .route("/auth/oauth/{provider}/start", get(social::start))
        .route("/auth/oauth/{provider}/callback", get(social::callback))
        .route("/api/identities", get(social::list))
        .route("/api/identities/{provider}/link", post(social::link))
        .route("/api/identities/{provider}", delete(social::unlink))
        .route("/api/me", get(meta::me))
        .route("/api/sessions", get(account::list))
        .route("/api/sessions/{id}", delete(account::revoke))
        .route("/api/mfa", get(mfa::status))
        .route("/api/mfa/totp/enroll", post(mfa::enroll))
        .route("/api/mfa/totp/confirm", post(mfa::confirm))
        .route("/api/mfa/totp/disable", post(mfa::disable))
        .route(
            "/api/mfa/recovery-codes",
            post(mfa::regenerate_recovery_codes),
        )
        .route(
            "/api/passkeys",
            get(passkeys::list).post(passkeys::register),
        )
        .route("/api/passkeys/options", post(passkeys::register_options))
        .route("/api/passkeys/{id}", delete(passkeys::remove))
        .route("/api/email/verification", post(password::send_verification))
        .route("/api/password/change", post(password::change))
        .route(
            "/api/account",
            get(account::profile).delete(password::delete_account),
        )
        .route("/internal/revocations", get(internal::feed))
        .route(
            "/admin/roles",
            get(admin::list_roles).post(admin::create_role),
        )
        .route("/admin/roles/{name}", delete(admin::delete_role))
        .route("/admin/roles/{name}/parent", put(admin::set_parent))
        .route(
            "/admin/roles/{name}/permissions/{permission}",
            put(admin::grant).delete(admin::revoke),
        )
        .route(
            "/admin/permissions",
            get(admin::list_permissions).post(admin::create_permission),
        )
        .route("/admin/users", get(admin::search_users))
        .route("/admin/users/{id}", get(admin::get_user))
        .route(
            "/admin/users/{id}/roles/{role}",
            put(admin::assign).delete(admin::unassign),
        )
        .route("/admin/users/{id}/disable", post(admin::disable))
        .route("/admin/users/{id}/enable", post(admin::enable))
        .route("/admin/sod", get(admin::list_sod).post(admin::add_sod))
        .route("/admin/sod/{a}/{b}", delete(admin::remove_sod))
        .route("/admin/keys/rotate", post(admin::rotate_keys))
        .route("/admin/audit", get(admin::audit_log))
        .route("/webhooks/{provider}", post(webhooks::receive))
        .route("/admin/webhooks", get(webhooks::list))
        .route("/admin/webhooks/{id}", get(webhooks::show))
        .route("/admin/webhooks/{id}/requeue", post(webhooks::requeue))
        .route(
            "/admin/webhooks/subscriptions/{customer}",
            get(webhooks::subscription),
        )
        .route("/graphql", crate::graphql::route(&state))
        .fallback(meta::not_found)
        .method_not_allowed_fallback(meta::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::idempotency,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            envelope::require_envelope,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state)
}

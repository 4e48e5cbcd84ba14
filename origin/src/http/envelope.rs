//! The edge → origin trust boundary: every request but the exempt ones must carry a valid,
//! fresh identity envelope, verified with the edge crate's own implementation.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use edge_auth::envelope::{self, VerifiedEnvelope};

use super::AppState;
use crate::error::{AppError, Problem};

/// The token's `auth_time` as the edge may forward it. The edge does not set it yet; when it
/// does, the origin's freshness checks use it instead of the session's stored `auth_time`.
pub const AUTH_TIME_HEADER: &str = "x-auth-auth-time";

/// Paths served without an envelope: liveness, the key set and discovery document the edge
/// Worker fetches directly, and operator endpoints that carry no identity.
pub fn is_exempt(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics" | "/openapi.json")
        || path.starts_with("/.well-known/")
}

/// What the edge vouched for on this request. Only the middleware builds it.
#[derive(Clone, Debug)]
pub struct EdgeIdentity {
    envelope: VerifiedEnvelope,
    pub request_id: Option<String>,
    /// The token was issued by this origin (`X-Auth-Issuer` equals our `ISSUER`): only then is
    /// its `sub` one of our accounts. The edge may trust other issuers for other routes.
    own_issuer: bool,
}

impl EdgeIdentity {
    pub fn user(&self) -> Option<&str> {
        self.envelope.user()
    }
    pub fn session(&self) -> Option<&str> {
        self.envelope.session()
    }
    pub fn roles(&self) -> Vec<&str> {
        self.envelope.roles()
    }
    pub fn permissions(&self) -> Vec<&str> {
        self.envelope.permissions()
    }
    pub fn issuer(&self) -> Option<&str> {
        self.envelope.get(envelope::ISSUER)
    }
    /// The token's `exp` (unix seconds) as the edge forwards it.
    pub fn expires_at(&self) -> Option<i64> {
        self.envelope
            .get(envelope::EXPIRES)
            .and_then(|v| v.parse().ok())
    }
    pub fn issued_at(&self) -> Option<i64> {
        self.envelope
            .get(envelope::ISSUED_AT)
            .and_then(|v| v.parse().ok())
    }
    /// The token's `auth_time` (unix seconds), when the edge forwards it as
    /// [`AUTH_TIME_HEADER`] (signed like every `x-auth-*` header).
    pub fn auth_time(&self) -> Option<i64> {
        self.envelope
            .get(AUTH_TIME_HEADER)
            .and_then(|v| v.parse().ok())
    }
    pub fn webhook_provider(&self) -> Option<&str> {
        self.envelope.webhook_provider()
    }
    /// The delivery id the edge verified (`X-Auth-Webhook-Id`).
    pub fn webhook_id(&self) -> Option<&str> {
        self.envelope.webhook_id()
    }
    pub fn has_permission(&self, p: &str) -> bool {
        self.envelope.permissions().contains(&p)
    }
}

pub fn edge_signature_invalid() -> Problem {
    Problem::new(StatusCode::FORBIDDEN, "edge_signature_invalid")
}

pub async fn require_envelope(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    if is_exempt(req.uri().path()) {
        return next.run(req).await;
    }
    let verified = {
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(req.headers().len());
        let mut bad_header = false;
        for (n, v) in req.headers() {
            match v.to_str() {
                Ok(v) => pairs.push((n.as_str(), v)),
                // A non-ASCII identity header cannot have been signed by the edge.
                Err(_) if envelope::is_identity_header(n.as_str()) => bad_header = true,
                Err(_) => {}
            }
        }
        let pq = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        if bad_header {
            Err(envelope::EnvelopeError::Malformed)
        } else {
            envelope::verify(
                &state.config.envelope_key,
                state.clock.now(),
                state.config.envelope_max_age_secs,
                req.method().as_str(),
                pq,
                pairs.iter().copied(),
            )
        }
    };
    match verified {
        Ok(env) => {
            // The request id is part of what the edge signed.
            let request_id = env
                .get(envelope::REQUEST_ID)
                .filter(|v| v.len() <= 128)
                .map(str::to_owned);
            let own_issuer = env.get(envelope::ISSUER) == Some(state.config.issuer.as_str());
            req.extensions_mut().insert(EdgeIdentity {
                envelope: env,
                request_id,
                own_issuer,
            });
            next.run(req).await
        }
        Err(e) => {
            tracing::warn!(reason = "edge_signature_invalid", error = %e, path = %req.uri().path(), "envelope refused");
            AppError::from(edge_signature_invalid()).into_response()
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for EdgeIdentity {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<EdgeIdentity>()
            .cloned()
            .ok_or_else(|| edge_signature_invalid().into())
    }
}

/// A signed-in user as vouched for by the edge (401 `authentication_required` otherwise).
/// What they may do is decided by the domain operations, from [`AuthUser::ctx`].
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub user_id: String,
    pub session_id: Option<String>,
    pub identity: EdgeIdentity,
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, Self::Rejection> {
        let identity = EdgeIdentity::from_request_parts(parts, s).await?;
        let user_id = identity
            .user()
            .filter(|_| identity.own_issuer)
            .ok_or_else(|| {
                AppError::from(Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "authentication_required",
                ))
            })?
            .to_owned();
        Ok(AuthUser {
            user_id,
            session_id: identity.session().map(str::to_owned),
            identity,
        })
    }
}

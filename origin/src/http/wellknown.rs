//! Discovery: the JWKS and the OpenID configuration (no envelope: the edge Worker fetches them).

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::AppState;
use crate::domain::keys;
use crate::error::AppResult;

fn cached(state: &AppState, body: serde_json::Value) -> Response {
    let mut res = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "public, max-age={}",
        state.config.jwks_max_age_secs
    )) {
        res.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    res
}

pub async fn jwks(State(state): State<AppState>) -> AppResult<Response> {
    let set = keys::published(&state).await?;
    Ok(cached(&state, set))
}

pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    let iss = &state.config.issuer;
    cached(
        &state,
        json!({
            "issuer": iss,
            "jwks_uri": format!("{iss}/.well-known/jwks.json"),
            "id_token_signing_alg_values_supported": [state.config.signing_alg.jose()],
            "token_endpoint": format!("{iss}/auth/login"),
            "revocation_feed": format!("{iss}/internal/revocations"),
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "claims_supported": ["iss", "aud", "sub", "sid", "jti", "iat", "nbf", "exp", "roles", "permissions"],
        }),
    )
}

//! `Idempotency-Key` on unsafe methods from a signed-in caller: run once, replay the stored
//! answer, 422 for the same key with another request, 409 while the first is still running.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::envelope::EdgeIdentity;
use super::AppState;
use crate::domain::idempotency::{self, Begin};
use crate::domain::ids::sha256_hex;
use crate::domain::DomainError;
use crate::error::{AppError, Problem};

pub const HEADER: &str = "idempotency-key";
const MAX_BODY: usize = 1 << 20;

fn problem(status: StatusCode, id: &'static str) -> Response {
    AppError::from(Problem::new(status, id)).into_response()
}

pub async fn idempotency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let unsafe_method = !(req.method().is_safe());
    let Some(key) = req.headers().get(HEADER).filter(|_| unsafe_method) else {
        return next.run(req).await;
    };
    // Keys are scoped per verified user; anonymous calls are not deduplicated (no owner).
    let Some(user) = req
        .extensions()
        .get::<EdgeIdentity>()
        .and_then(|i| i.user().map(str::to_owned))
    else {
        return next.run(req).await;
    };
    let key = match key.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) => {
            k.to_owned()
        }
        _ => return problem(StatusCode::BAD_REQUEST, "invalid_idempotency_key"),
    };
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return problem(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    };
    let mut fingerprint = Vec::with_capacity(bytes.len() + 64);
    fingerprint.extend_from_slice(parts.method.as_str().as_bytes());
    fingerprint.push(b' ');
    fingerprint.extend_from_slice(parts.uri.path().as_bytes());
    fingerprint.push(b'\n');
    fingerprint.extend_from_slice(&bytes);
    let hash = sha256_hex(&fingerprint);
    match idempotency::begin(&state, &user, &key, &hash).await {
        Err(e) => return AppError::from(e).into_response(),
        Ok(Begin::Mismatch) => {
            return AppError::from(DomainError::IdempotencyKeyReused).into_response()
        }
        Ok(Begin::InFlight) => {
            return AppError::from(DomainError::IdempotencyInFlight).into_response()
        }
        Ok(Begin::Replay {
            status,
            content_type,
            body,
        }) => {
            let mut res = Response::new(Body::from(body));
            *res.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            if let Some(ct) = content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
                res.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            res.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            return res;
        }
        Ok(Begin::Fresh) => {}
    }
    let res = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (rparts, rbody) = res.into_parts();
    let Ok(out) = to_bytes(rbody, MAX_BODY).await else {
        let _ = idempotency::abandon(&state, &user, &key).await;
        return problem(StatusCode::INTERNAL_SERVER_ERROR, "internal_error");
    };
    let stored = if rparts.status.is_server_error() {
        idempotency::abandon(&state, &user, &key).await
    } else {
        let ct = rparts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        idempotency::finish(
            &state,
            &user,
            &key,
            rparts.status.as_u16(),
            ct,
            out.to_vec(),
        )
        .await
    };
    if let Err(e) = stored {
        tracing::error!(error = ?e, "idempotency record not stored");
    }
    Response::from_parts(rparts, Body::from(out))
}

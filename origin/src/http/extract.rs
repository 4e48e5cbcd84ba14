//! Extractors whose rejections are problem+json with stable ids, the one paging rule, and the
//! request context.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use serde::Deserialize;

use super::envelope::{AuthUser, EdgeIdentity};
use crate::domain::audit::Ctx;
use crate::domain::Page;
use crate::error::{bad_request, AppError, Problem};

/// JSON body: 415 `unsupported_media_type`, 400 `malformed_json`, 422 `invalid_body`, 413 `body_too_large`.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rej) => Err(match rej {
                JsonRejection::MissingJsonContentType(_) => {
                    Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
                }
                JsonRejection::JsonSyntaxError(_) => {
                    Problem::new(StatusCode::BAD_REQUEST, "malformed_json")
                }
                JsonRejection::JsonDataError(e) => {
                    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
                        .detail(e.body_text())
                }
                JsonRejection::BytesRejection(_) => {
                    Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
                }
                _ => Problem::new(StatusCode::BAD_REQUEST, "invalid_body"),
            }
            .into()),
        }
    }
}

/// Query string: 400 `invalid_query`.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(Problem::new(StatusCode::BAD_REQUEST, "invalid_query")
                    .detail(e.body_text())
                    .into())
            }
            Err(_) => Err(Problem::new(StatusCode::BAD_REQUEST, "invalid_query").into()),
        }
    }
}

#[derive(Deserialize)]
struct PageQuery {
    before: Option<String>,
    limit: Option<String>,
}

/// `?before=<id>&limit=<n>` on every newest-first listing, one rule: an absent or empty value
/// means the default (first page; 50 entries), like every other empty filter; otherwise
/// `before` is a positive id (400 `invalid_cursor`) and `limit` is 1–500 (400 `invalid_limit`).
/// Other query parameters are left to the listing's own filter.
impl<S: Send + Sync> FromRequestParts<S> for Page {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ApiQuery(q) = ApiQuery::<PageQuery>::from_request_parts(parts, state).await?;
        let before = match q.before.as_deref() {
            None | Some("") => None,
            Some(s) => Some(
                s.parse::<i64>()
                    .ok()
                    .filter(|v| *v > 0)
                    .ok_or_else(|| bad_request("invalid_cursor"))?,
            ),
        };
        let limit = match q.limit.as_deref() {
            None | Some("") => Page::DEFAULT_LIMIT,
            Some(s) => s
                .parse::<i64>()
                .ok()
                .filter(|v| (1..=Page::MAX_LIMIT).contains(v))
                .ok_or_else(|| bad_request("invalid_limit"))?,
        };
        Ok(Page { before, limit })
    }
}

/// Who/where for audit rows and session records: the verified user (if any), the edge's
/// request id, the client IP the edge put in `X-Forwarded-For`, the user agent.
pub struct RequestCtx(pub Ctx);

impl<S: Send + Sync> FromRequestParts<S> for RequestCtx {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, Self::Rejection> {
        let id = EdgeIdentity::from_request_parts(parts, s).await?;
        let h = |n: &str| {
            parts
                .headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let ip = h("x-forwarded-for")
            .split(',')
            .next()
            .unwrap_or("")
            .trim()
            .to_owned();
        Ok(RequestCtx(Ctx {
            actor: id.user().map(str::to_owned),
            request_id: id.request_id.clone(),
            ip,
            user_agent: h(header::USER_AGENT.as_str()),
            // Permissions count only for a caller signed in with our own tokens: see
            // `AuthUser::ctx`.
            authority: Default::default(),
            session: None,
            auth_time: None,
        }))
    }
}

impl AuthUser {
    /// The domain context of this signed-in caller: their id as the actor and the permissions
    /// their verified token carried as their authority (each operation checks what it needs).
    pub fn ctx(&self, RequestCtx(ctx): RequestCtx) -> Ctx {
        let mut ctx = ctx
            .acting(&self.user_id)
            .with_permissions(self.identity.permissions());
        ctx.session = self.session_id.clone();
        ctx.auth_time = self.identity.auth_time();
        ctx
    }
}

/// A browser (fetch or navigation) announces itself with Fetch Metadata headers.
pub fn is_browser(headers: &axum::http::HeaderMap) -> bool {
    headers.contains_key("sec-fetch-mode") || headers.contains_key("sec-fetch-site")
}

pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

//! The one application error type and its single HTTP mapping: RFC 9457 problem+json.
//!
//! Downstream errors (the client's fault) carry a stable reason id; upstream/internal details
//! go to the log, never to the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// A client-facing failure: status + stable reason id (+ optional safe detail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: StatusCode,
    pub id: &'static str,
    pub detail: Option<String>,
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, id: &'static str) -> Self {
        Problem {
            status,
            id,
            detail: None,
            retry_after: None,
        }
    }
    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

/// Everything a handler can fail with; `?` works on database errors.
#[derive(Debug)]
pub enum AppError {
    /// Downstream: the request is wrong or not allowed.
    Problem(Problem),
    /// Upstream: the database failed.
    Db(sqlx::Error),
    /// Internal: a bug or broken invariant (message is logged only).
    Internal(String),
}

impl From<Problem> for AppError {
    fn from(p: Problem) -> Self {
        AppError::Problem(p)
    }
}
impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Db(e)
    }
}

pub type AppResult<T> = Result<T, AppError>;

pub fn bad_request(id: &'static str) -> AppError {
    Problem::new(StatusCode::BAD_REQUEST, id).into()
}
pub fn unprocessable(id: &'static str) -> AppError {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, id).into()
}
pub fn conflict(id: &'static str) -> AppError {
    Problem::new(StatusCode::CONFLICT, id).into()
}
pub fn not_found(id: &'static str) -> AppError {
    Problem::new(StatusCode::NOT_FOUND, id).into()
}
pub fn unauthorized(id: &'static str) -> AppError {
    Problem::new(StatusCode::UNAUTHORIZED, id).into()
}
pub fn forbidden(id: &'static str) -> AppError {
    Problem::new(StatusCode::FORBIDDEN, id).into()
}
pub fn internal(msg: impl Into<String>) -> AppError {
    AppError::Internal(msg.into())
}

/// Is this a unique-constraint violation (same on SQLite and PostgreSQL)?
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn title(id: &str) -> String {
    let mut t = id.replace('_', " ");
    if let Some(f) = t.get_mut(0..1) {
        f.make_ascii_uppercase();
    }
    t
}

pub fn problem_response(p: &Problem) -> Response {
    let mut body = serde_json::json!({
        "type": format!("urn:edge-auth:problem:{}", p.id),
        "title": title(p.id),
        "status": p.status.as_u16(),
        "error": p.id,
    });
    if let Some(d) = &p.detail {
        body["detail"] = serde_json::Value::String(d.clone());
    }
    let mut res = (p.status, body.to_string()).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(s) = p.retry_after {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    res
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Problem(p) => problem_response(&p),
            AppError::Db(e) => {
                let busy = matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::Io(_));
                tracing::error!(side = "upstream", error = %e, "database error");
                if busy {
                    problem_response(
                        &Problem::new(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable")
                            .retry_after(1),
                    )
                } else {
                    problem_response(&Problem::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal_error",
                    ))
                }
            }
            AppError::Internal(m) => {
                tracing::error!(side = "internal", error = %m, "internal error");
                problem_response(&Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                ))
            }
        }
    }
}

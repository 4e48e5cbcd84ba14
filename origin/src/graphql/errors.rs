//! GraphQL errors with stable codes: a domain refusal gets the reason id `error.rs` gives it
//! over REST (`extensions.code`, plus the HTTP status REST would answer), storage and internal
//! failures are logged and shown as `internal_error` / `database_unavailable` only.

use async_graphql::{Error, ErrorExtensions};

use crate::domain::DomainError;
use crate::error::{AppError, Problem};

/// A failure that can be cloned (a DataLoader hands one error to every waiting field).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub code: &'static str,
    pub status: u16,
    pub message: String,
}

impl Failure {
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> Failure {
        Failure {
            code,
            status,
            message: message.into(),
        }
    }

    pub fn into_error(self) -> Error {
        Error::new(self.message).extend_with(|_, e| {
            e.set("code", self.code);
            e.set("status", self.status);
        })
    }
}

fn problem(p: &Problem) -> Failure {
    let message = p.detail.clone().unwrap_or_else(|| p.id.replace('_', " "));
    Failure::new(p.id, p.status.as_u16(), message)
}

impl From<DomainError> for Failure {
    fn from(e: DomainError) -> Failure {
        match AppError::from(e) {
            AppError::Problem(p) => problem(&p),
            AppError::Db(e) => {
                tracing::error!(side = "upstream", error = %e, "graphql: database error");
                if matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) {
                    Failure::new("database_unavailable", 503, "database unavailable")
                } else {
                    Failure::new("internal_error", 500, "internal error")
                }
            }
            AppError::Internal(m) => {
                tracing::error!(side = "internal", error = %m, "graphql: internal error");
                Failure::new("internal_error", 500, "internal error")
            }
        }
    }
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        f.into_error()
    }
}

/// `?` on a domain result inside a resolver.
pub fn domain(e: DomainError) -> Error {
    Failure::from(e).into_error()
}

/// A resolver argument out of range (the REST listing's `invalid_limit`, …).
pub fn invalid(code: &'static str, message: &str) -> Error {
    Failure::new(code, 400, message).into_error()
}

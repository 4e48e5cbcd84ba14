//! The user record and its lookups: what accounts, sessions and RBAC all need, owned by none of
//! them (so `accounts → sessions` has no way back).

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::error::DomainResult;
use super::Core;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub disabled: bool,
}

fn user(r: &AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
    })
}

/// The user with this (normalized) e-mail and their password hash.
pub async fn by_email(core: &Core, email: &str) -> DomainResult<Option<(User, String)>> {
    let row = sqlx::query("SELECT id, email, password_hash, disabled FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(&core.db.pool)
        .await?;
    Ok(match row {
        None => None,
        Some(r) => Some((user(&r)?, r.try_get("password_hash")?)),
    })
}

pub async fn by_id(core: &Core, id: &str) -> DomainResult<Option<User>> {
    let row = sqlx::query("SELECT id, email, disabled FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(&core.db.pool)
        .await?;
    Ok(row.as_ref().map(user).transpose()?)
}

/// Does the user have a password (a PHC hash, not the `!` of accounts made by a provider or
/// deleted)?
pub async fn has_password(core: &Core, id: &str) -> DomainResult<bool> {
    let h: Option<String> = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(&core.db.pool)
        .await?;
    Ok(h.is_some_and(|h| h.starts_with('$')))
}

/// What the account page shows about the signed-in user's own account.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Profile {
    pub id: String,
    pub email: String,
    /// Unix ms the address was verified, if it was.
    pub email_verified_at: Option<i64>,
    /// Unix ms.
    pub created_at: i64,
    /// Whether the account can sign in with a password (not only with a provider).
    pub has_password: bool,
}

/// The user's own profile (`None` when the account no longer exists).
pub async fn profile(core: &Core, id: &str) -> DomainResult<Option<Profile>> {
    let row = sqlx::query(
        "SELECT id, email, password_hash, created_at, email_verified_at FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&core.db.pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(Profile {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        email_verified_at: r.try_get("email_verified_at")?,
        created_at: r.try_get("created_at")?,
        has_password: r.try_get::<String, _>("password_hash")?.starts_with('$'),
    }))
}

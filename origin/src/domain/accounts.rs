//! Accounts: sign-up, password log-in with equal-time failures and per-account throttling,
//! rehash on parameter change, disable/enable.

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::json;
use sqlx::Row;

use super::audit::{self, Ctx};
use super::Core;
use crate::error::{
    conflict, internal, is_unique_violation, unauthorized, unprocessable, AppResult, Problem,
};

/// Cap on the growing lock-out delay.
const MAX_DELAY_SECS: i64 = 900;
/// Failures older than this no longer count.
const FAILURE_WINDOW_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub disabled: bool,
}

/// Trims, lowercases and checks the shape (one `@`, non-empty parts, a dot in the domain, no spaces).
pub fn normalize_email(raw: &str) -> Result<String, &'static str> {
    let e = raw.trim().to_lowercase();
    let ok = e.len() <= 254
        && e.split('@').count() == 2
        && e.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty()
                && l.len() <= 64
                && d.contains('.')
                && !d.starts_with('.')
                && !d.ends_with('.')
        })
        && !e
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[]\\,;:\"".contains(c));
    if ok {
        Ok(e)
    } else {
        Err("invalid_email")
    }
}

pub async fn signup(core: &Core, email: &str, password: String, ctx: &Ctx) -> AppResult<User> {
    let email = normalize_email(email).map_err(unprocessable)?;
    core.passwords
        .check_policy(&password, &email)
        .map_err(unprocessable)?;
    let hash = core.passwords.hash(password).await.map_err(internal)?;
    create_user(core, &email, &hash, &["user"], ctx).await
}

/// Inserts a user with `roles`, in one transaction (no half-created account).
pub async fn create_user(
    core: &Core,
    email: &str,
    hash: &str,
    roles: &[&str],
    ctx: &Ctx,
) -> AppResult<User> {
    let now = core.clock.now_ms();
    let id = super::ids::new_id("usr");
    let mut tx = core.db.begin().await?;
    let r = sqlx::query("INSERT INTO users (id, email, password_hash, disabled, created_at, updated_at) VALUES ($1, $2, $3, 0, $4, $4)")
        .bind(&id)
        .bind(email)
        .bind(hash)
        .bind(now)
        .execute(&mut *tx)
        .await;
    match r {
        Err(e) if is_unique_violation(&e) => return Err(conflict("email_taken")),
        r => r?,
    };
    for role in roles {
        sqlx::query("INSERT INTO user_roles (user_id, role, created_at) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(*role)
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    audit::record(
        &mut tx,
        now,
        ctx,
        "user.signup",
        Some(&id),
        json!({ "roles": roles }),
    )
    .await?;
    tx.commit().await?;
    Ok(User {
        id,
        email: email.to_owned(),
        disabled: false,
    })
}

pub async fn by_email(core: &Core, email: &str) -> AppResult<Option<(User, String)>> {
    let row = sqlx::query("SELECT id, email, password_hash, disabled FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(&core.db.pool)
        .await?;
    Ok(match row {
        None => None,
        Some(r) => Some((
            User {
                id: r.try_get("id")?,
                email: r.try_get("email")?,
                disabled: r.try_get::<i64, _>("disabled")? != 0,
            },
            r.try_get("password_hash")?,
        )),
    })
}

pub async fn by_id(core: &Core, id: &str) -> AppResult<Option<User>> {
    let row = sqlx::query("SELECT id, email, disabled FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(&core.db.pool)
        .await?;
    Ok(match row {
        None => None,
        Some(r) => Some(User {
            id: r.try_get("id")?,
            email: r.try_get("email")?,
            disabled: r.try_get::<i64, _>("disabled")? != 0,
        }),
    })
}

fn invalid_credentials() -> crate::error::AppError {
    unauthorized("invalid_credentials")
}

/// Checks email + password. Unknown email and wrong password do the same work (a hash
/// verification, one throttle upsert, one audit row) and give the same answer.
pub async fn authenticate(
    core: &Core,
    email: &str,
    password: String,
    ctx: &Ctx,
) -> AppResult<User> {
    let now = core.clock.now_ms();
    let email = normalize_email(email).unwrap_or_else(|_| email.trim().to_lowercase());
    if password.len() > super::passwords::MAX_PASSWORD_BYTES || email.len() > 254 {
        return Err(invalid_credentials());
    }
    let locked_until: Option<i64> =
        sqlx::query_scalar("SELECT locked_until FROM login_throttle WHERE email = $1")
            .bind(&email)
            .fetch_optional(&core.db.pool)
            .await?;
    if let Some(until) = locked_until.filter(|u| *u > now) {
        core.metrics.login("throttled");
        return Err(
            Problem::new(StatusCode::TOO_MANY_REQUESTS, "login_throttled")
                .retry_after(((until - now + 999) / 1000) as u64)
                .into(),
        );
    }
    let found = by_email(core, &email).await?;
    let v = core
        .passwords
        .verify(password.clone(), found.as_ref().map(|(_, h)| h.clone()))
        .await;
    let Some((user, _)) = found.filter(|_| v.ok) else {
        record_failure(core, &email, now, ctx).await?;
        core.metrics.login("failure");
        return Err(invalid_credentials());
    };
    if user.disabled {
        let mut conn = core.db.pool.acquire().await?;
        audit::record(
            &mut conn,
            now,
            ctx,
            "login.failure",
            Some(&user.id),
            json!({ "reason": "account_disabled" }),
        )
        .await?;
        core.metrics.login("disabled");
        return Err(Problem::new(StatusCode::FORBIDDEN, "account_disabled").into());
    }
    if v.needs_rehash {
        let hash = core.passwords.hash(password).await.map_err(internal)?;
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(hash)
            .bind(now)
            .bind(&user.id)
            .execute(&core.db.pool)
            .await?;
        tracing::info!(user = %user.id, "password rehashed with current parameters");
    }
    sqlx::query("DELETE FROM login_throttle WHERE email = $1")
        .bind(&email)
        .execute(&core.db.pool)
        .await?;
    core.metrics.login("success");
    Ok(user)
}

async fn record_failure(core: &Core, email: &str, now: i64, ctx: &Ctx) -> AppResult<()> {
    let mut tx = core.db.begin().await?;
    let failures: i64 = sqlx::query_scalar(
        "INSERT INTO login_throttle (email, failures, locked_until, updated_at) VALUES ($1, 1, 0, $2) \
         ON CONFLICT (email) DO UPDATE SET \
           failures = CASE WHEN login_throttle.updated_at < $3 THEN 1 ELSE login_throttle.failures + 1 END, \
           updated_at = $2 \
         RETURNING failures",
    )
    .bind(email)
    .bind(now)
    .bind(now - FAILURE_WINDOW_MS)
    .fetch_one(&mut *tx)
    .await?;
    let over = failures - core.config.throttle_after;
    if over >= 0 {
        let delay = if over >= 10 {
            MAX_DELAY_SECS
        } else {
            (1i64 << over).min(MAX_DELAY_SECS)
        };
        sqlx::query("UPDATE login_throttle SET locked_until = $1 WHERE email = $2")
            .bind(now + delay * 1000)
            .bind(email)
            .execute(&mut *tx)
            .await?;
    }
    // The target is the email as typed (normalized), whether or not an account exists.
    audit::record(
        &mut tx,
        now,
        ctx,
        "login.failure",
        Some(email),
        json!({ "reason": "invalid_credentials", "failures": failures }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Disables (revoking every session) or re-enables an account.
pub async fn set_disabled(core: &Core, user_id: &str, disabled: bool, ctx: &Ctx) -> AppResult<()> {
    let now = core.clock.now_ms();
    let mut tx = core.db.begin().await?;
    let n = sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
        .bind(disabled as i64)
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(crate::error::not_found("user_not_found"));
    }
    if disabled {
        super::sessions::revoke_all_in(
            core,
            &mut tx,
            user_id,
            "account_disabled",
            ctx,
            None,
            super::sessions::Void::UserTokens,
        )
        .await?;
    }
    audit::record(
        &mut tx,
        now,
        ctx,
        if disabled {
            "user.disable"
        } else {
            "user.enable"
        },
        Some(user_id),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// CLI: creates the first admin (or promotes an existing account).
pub async fn create_admin(core: &Core, email: &str, password: String) -> AppResult<(User, bool)> {
    let ctx = Ctx {
        actor: Some("cli".into()),
        ..Default::default()
    };
    let email = normalize_email(email).map_err(unprocessable)?;
    if let Some((user, _)) = by_email(core, &email).await? {
        let mut tx = core.db.begin().await?;
        super::rbac::assign(&mut tx, &user.id, "admin", core.clock.now_ms()).await?;
        super::revocations::user_tokens_void(
            &mut tx,
            &user.id,
            core.clock.now_ms(),
            core.access_ttl_ms(),
        )
        .await?;
        audit::record(
            &mut tx,
            core.clock.now_ms(),
            &ctx,
            "role.assign",
            Some(&user.id),
            json!({ "role": "admin" }),
        )
        .await?;
        tx.commit().await?;
        return Ok((user, false));
    }
    core.passwords
        .check_policy(&password, &email)
        .map_err(unprocessable)?;
    let hash = core.passwords.hash(password).await.map_err(internal)?;
    Ok((
        create_user(core, &email, &hash, &["user", "admin"], &ctx).await?,
        true,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_or_refused() {
        assert_eq!(
            normalize_email("  Alice@Example.COM ").as_deref(),
            Ok("alice@example.com")
        );
        for bad in [
            "", "alice", "a@b", "a@@b.c", "@b.c", "a b@c.d", "a@.c", "a@c.", "a<@b.c",
        ] {
            assert_eq!(normalize_email(bad), Err("invalid_email"), "{bad:?}");
        }
    }
}

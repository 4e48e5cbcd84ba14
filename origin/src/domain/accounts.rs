//! Accounts: sign-up, password log-in with equal-time failures and per-account throttling,
//! rehash on parameter change, disable/enable.

use serde_json::json;

use super::ctx::{Ctx, RBAC_ADMIN};
use super::error::{DomainError, DomainResult, What};
use super::work::Work;
use super::{rbac, sessions, Core};
use crate::db::is_unique_violation;

pub use super::users::{by_email, by_id, User};

/// Cap on the growing lock-out delay.
const MAX_DELAY_SECS: i64 = 900;
/// Failures older than this no longer count.
const FAILURE_WINDOW_MS: i64 = 24 * 3600 * 1000;

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

/// A new account with the `user` role (e-mail normalized, password policy applied).
pub async fn signup(core: &Core, ctx: &Ctx, email: &str, password: String) -> DomainResult<User> {
    let email = normalize_email(email).map_err(|_| DomainError::InvalidEmail)?;
    let hash = core.passwords.new_hash(password, &email).await?;
    create_user(core, ctx, &email, &hash, &["user"]).await
}

/// Inserts a user with `roles`, in one transaction (no half-created account).
pub async fn create_user(
    core: &Core,
    ctx: &Ctx,
    email: &str,
    hash: &str,
    roles: &[&str],
) -> DomainResult<User> {
    let id = super::ids::new_id("usr");
    let mut w = Work::begin(core, ctx).await?;
    let now = w.now;
    let r = sqlx::query("INSERT INTO users (id, email, password_hash, disabled, created_at, updated_at) VALUES ($1, $2, $3, 0, $4, $4)")
        .bind(&id)
        .bind(email)
        .bind(hash)
        .bind(now)
        .execute(w.conn())
        .await;
    match r {
        Err(e) if is_unique_violation(&e) => return Err(DomainError::AlreadyExists(What::Email)),
        r => r?,
    };
    for role in roles {
        sqlx::query("INSERT INTO user_roles (user_id, role, created_at) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(*role)
            .bind(now)
            .execute(w.conn())
            .await?;
    }
    w.audit("user.signup", Some(&id), json!({ "roles": roles }))
        .await?;
    w.commit().await?;
    Ok(User {
        id,
        email: email.to_owned(),
        disabled: false,
    })
}

/// Checks email + password. Unknown email and wrong password do the same work (a hash
/// verification, one throttle upsert, one audit row) and give the same answer.
pub async fn authenticate(
    core: &Core,
    ctx: &Ctx,
    email: &str,
    password: String,
) -> DomainResult<User> {
    let now = core.clock.now_ms();
    let email = normalize_email(email).unwrap_or_else(|_| email.trim().to_lowercase());
    if password.len() > super::passwords::MAX_PASSWORD_BYTES || email.len() > 254 {
        return Err(DomainError::InvalidCredentials);
    }
    if let Err(e) = check_throttle(core, &email, now).await {
        core.telemetry.login("throttled");
        return Err(e);
    }
    let found = by_email(core, &email).await?;
    let v = core
        .passwords
        .verify(password.clone(), found.as_ref().map(|(_, h)| h.clone()))
        .await;
    let Some((user, _)) = found.filter(|_| v.ok) else {
        record_failure(
            core,
            ctx,
            &email,
            "login.failure",
            &email,
            "invalid_credentials",
        )
        .await?;
        core.telemetry.login("failure");
        return Err(DomainError::InvalidCredentials);
    };
    if user.disabled {
        let mut w = Work::begin(core, ctx).await?;
        w.audit(
            "login.failure",
            Some(&user.id),
            json!({ "reason": "account_disabled" }),
        )
        .await?;
        w.commit().await?;
        core.telemetry.login("disabled");
        return Err(DomainError::AccountDisabled);
    }
    if v.needs_rehash {
        let hash = core
            .passwords
            .hash(password)
            .await
            .map_err(DomainError::internal)?;
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(hash)
            .bind(now)
            .bind(&user.id)
            .execute(&core.db.pool)
            .await?;
        tracing::info!(user = %user.id, "password rehashed with current parameters");
    }
    clear_throttle(&mut *core.db.pool.acquire().await?, &email).await?;
    core.telemetry.login("success");
    Ok(user)
}

/// Refuses with [`DomainError::LoginThrottled`] while `key` is locked out. Keys: the e-mail as
/// typed (password log-in), `mfa:<user id>` (second-factor codes).
pub(super) async fn check_throttle(core: &Core, key: &str, now: i64) -> DomainResult<()> {
    let locked_until: Option<i64> =
        sqlx::query_scalar("SELECT locked_until FROM login_throttle WHERE email = $1")
            .bind(key)
            .fetch_optional(&core.db.pool)
            .await?;
    if let Some(until) = locked_until.filter(|u| *u > now) {
        return Err(DomainError::LoginThrottled {
            retry_after_secs: ((until - now + 999) / 1000) as u64,
        });
    }
    Ok(())
}

/// Forgets the failures counted for `key` (after a success).
pub(super) async fn clear_throttle(conn: &mut sqlx::AnyConnection, key: &str) -> DomainResult<()> {
    sqlx::query("DELETE FROM login_throttle WHERE email = $1")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

/// Counts a failure for `key` (for a log-in: the address as typed, normalized, whether or not
/// an account has it) and locks further attempts out for a delay that doubles per failure over
/// the limit; audits `action` on `target` with `reason`.
pub(super) async fn record_failure(
    core: &Core,
    ctx: &Ctx,
    key: &str,
    action: &str,
    target: &str,
    reason: &str,
) -> DomainResult<()> {
    let email = key;
    let mut w = Work::begin(core, ctx).await?;
    let now = w.now;
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
    .fetch_one(w.conn())
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
            .execute(w.conn())
            .await?;
    }
    w.audit(
        action,
        Some(target),
        json!({ "reason": reason, "failures": failures }),
    )
    .await?;
    w.commit().await
}

/// Disables an account — every session revoked and every access token voided, in the same
/// transaction — or re-enables it.
pub async fn set_disabled(
    core: &Core,
    ctx: &Ctx,
    user_id: &str,
    disabled: bool,
) -> DomainResult<()> {
    ctx.require(RBAC_ADMIN)?;
    let mut w = Work::begin(core, ctx).await?;
    let now = w.now;
    let n = sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
        .bind(disabled as i64)
        .bind(now)
        .bind(user_id)
        .execute(w.conn())
        .await?
        .rows_affected();
    if n == 0 {
        return Err(DomainError::NotFound(What::User));
    }
    if disabled {
        sessions::revoke_all_in(
            &mut w,
            user_id,
            "account_disabled",
            None,
            sessions::Void::UserTokens,
        )
        .await?;
    }
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    w.audit(action, Some(user_id), json!({})).await?;
    w.commit().await
}

/// Deletes the signed-in user's own account. Needs an authentication within
/// `STEP_UP_MAX_AGE_SECS`. Every session ends and every access token is void (revocation feed);
/// second factors, mailed links, challenges, roles, idempotency answers and throttle entries
/// are deleted; sessions keep no user agent or IP; audit entries that named the address name the
/// user id instead; the user row stays (ids elsewhere point at it) with nothing personal: the
/// address becomes `deleted+<id>@deleted.invalid` (free for a new sign-up), the password hash an
/// unverifiable `!`, the account disabled, `deleted_at` set.
pub async fn delete_account(core: &Core, ctx: &Ctx, user_id: &str) -> DomainResult<()> {
    sessions::require_fresh(core, ctx, core.config.step_up_max_age_secs).await?;
    let mut w = Work::begin(core, ctx).await?;
    let now = w.now;
    let email: Option<String> =
        sqlx::query_scalar("SELECT email FROM users WHERE id = $1 AND deleted_at IS NULL")
            .bind(user_id)
            .fetch_optional(w.conn())
            .await?;
    let email = email.ok_or(DomainError::NotFound(What::User))?;
    let ended = sessions::revoke_all_in(
        &mut w,
        user_id,
        "account_deleted",
        None,
        sessions::Void::UserTokens,
    )
    .await?;
    for sql in [
        "DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM sessions WHERE user_id = $1)",
        "UPDATE sessions SET user_agent = '', ip = '' WHERE user_id = $1",
        "DELETE FROM totp_factors WHERE user_id = $1",
        "DELETE FROM recovery_codes WHERE user_id = $1",
        "DELETE FROM mfa_challenges WHERE user_id = $1",
        "DELETE FROM passkeys WHERE user_id = $1",
        "DELETE FROM webauthn_challenges WHERE user_id = $1",
        "DELETE FROM webauthn_users WHERE user_id = $1",
        "DELETE FROM mail_tokens WHERE user_id = $1",
        "DELETE FROM user_roles WHERE user_id = $1",
        "DELETE FROM identities WHERE user_id = $1",
        "DELETE FROM idempotency_keys WHERE scope = $1",
    ] {
        sqlx::query(sql).bind(user_id).execute(w.conn()).await?;
    }
    sqlx::query("DELETE FROM login_throttle WHERE email = $1 OR email = $2")
        .bind(&email)
        .bind(format!("mfa:{user_id}"))
        .execute(w.conn())
        .await?;
    sqlx::query("UPDATE audit_log SET target = $1 WHERE target = $2")
        .bind(user_id)
        .bind(&email)
        .execute(w.conn())
        .await?;
    sqlx::query(
        "UPDATE users SET email = $1, password_hash = '!', disabled = 1, email_verified_at = NULL, \
         deleted_at = $2, updated_at = $2 WHERE id = $3",
    )
    .bind(format!("deleted+{user_id}@deleted.invalid"))
    .bind(now)
    .bind(user_id)
    .execute(w.conn())
    .await?;
    w.audit(
        "user.delete",
        Some(user_id),
        json!({ "sessions_ended": ended }),
    )
    .await?;
    w.commit().await
}

/// CLI: creates the first admin (or grants `admin` to an existing account, through the same
/// operation as the admin API: separation of duty checked, old tokens voided, audited).
pub async fn create_admin(
    core: &Core,
    email: &str,
    password: String,
) -> DomainResult<(User, bool)> {
    let ctx = Ctx::cli();
    let email = normalize_email(email).map_err(|_| DomainError::InvalidEmail)?;
    if let Some((user, _)) = by_email(core, &email).await? {
        rbac::grant_role(core, &ctx, &user.id, "admin").await?;
        return Ok((user, false));
    }
    let hash = core.passwords.new_hash(password, &email).await?;
    Ok((
        create_user(core, &ctx, &email, &hash, &["user", "admin"]).await?,
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

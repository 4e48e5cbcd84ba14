//! Password reset and e-mail verification by mailed single-use links, and password change.
//!
//! * The tokens are 256 random bits; only their SHA-256 is stored, with a purpose, the address
//!   the link went to, an expiry (`PASSWORD_RESET_TTL_SECS`, `EMAIL_VERIFY_TTL_SECS`) and
//!   `used_at` (single use: a conditional update, so two concurrent uses cannot both pass).
//! * "Reset my password" answers the same whether or not an account has the address, and does
//!   the same work either way (one transaction with an audit row; the known account's also
//!   stores the token); the mail goes out in the background, so the answer does not wait for the
//!   SMTP exchange either.
//! * A reset ends every session of the user and voids every access token issued until then
//!   (revocation feed), spends the user's other reset links, clears the log-in throttle and
//!   proves the address.
//! * A change needs the current password (wrong ones count towards the log-in lock-out) and
//!   ends every other session of the user.

use serde_json::json;
use sqlx::Row;

use super::accounts::{check_throttle, clear_throttle, normalize_email, record_failure};
use super::ctx::Ctx;
use super::error::{DomainError, DomainResult, What};
use super::ids::{new_secret_token, sha256_hex};
use super::sessions::{self, Void};
use super::users;
use super::work::Work;
use super::Core;

const RESET: &str = "password_reset";
const VERIFY: &str = "verify_email";

async fn store_token(
    w: &mut Work<'_>,
    purpose: &str,
    user_id: &str,
    email: &str,
    ttl_secs: u64,
) -> DomainResult<String> {
    let token = new_secret_token();
    let now = w.now;
    sqlx::query(
        "INSERT INTO mail_tokens (token_hash, purpose, user_id, email, created_at, expires_at, used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, NULL)",
    )
    .bind(sha256_hex(token.as_bytes()))
    .bind(purpose)
    .bind(user_id)
    .bind(email)
    .bind(now)
    .bind(now + ttl_secs as i64 * 1000)
    .execute(w.conn())
    .await?;
    Ok(token)
}

/// Spends a live token of `purpose` inside `w`: its user id and address, or None.
async fn spend_token(
    w: &mut Work<'_>,
    purpose: &str,
    token: &str,
) -> DomainResult<Option<(String, String)>> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let hash = sha256_hex(token.as_bytes());
    let now = w.now;
    let row = sqlx::query(
        "SELECT user_id, email FROM mail_tokens WHERE token_hash = $1 AND purpose = $2 \
         AND used_at IS NULL AND expires_at > $3",
    )
    .bind(&hash)
    .bind(purpose)
    .bind(now)
    .fetch_optional(w.conn())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let n = sqlx::query(
        "UPDATE mail_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
    )
    .bind(now)
    .bind(&hash)
    .execute(w.conn())
    .await?
    .rows_affected();
    if n != 1 {
        return Ok(None);
    }
    Ok(Some((row.try_get("user_id")?, row.try_get("email")?)))
}

/// "Reset my password": mails a reset link when an enabled account has `email`; the same
/// answer (Ok) and the same work otherwise.
pub async fn request_password_reset(core: &Core, ctx: &Ctx, email: &str) -> DomainResult<()> {
    core.mailer.require()?;
    let email = normalize_email(email).map_err(|_| DomainError::InvalidEmail)?;
    let found = users::by_email(core, &email)
        .await?
        .map(|(u, _)| u)
        .filter(|u| !u.disabled);
    let mut w = Work::begin(core, ctx).await?;
    // At most `PASSWORD_RESET_PER_EMAIL_PER_HOUR` links per address and hour: more requests get
    // the same answer and mail nothing (a mailbox is not flooded through us). Counted for every
    // address, known or not, so both do the same work.
    let recent: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM mail_tokens WHERE purpose = $1 AND email = $2 AND created_at > $3",
    )
    .bind(RESET)
    .bind(&email)
    .bind(w.now - 3_600_000)
    .fetch_one(w.conn())
    .await?;
    let throttled = recent >= core.config.reset_mails_per_hour;
    let mail = match found.as_ref().filter(|_| !throttled) {
        Some(user) => {
            let token = store_token(
                &mut w,
                RESET,
                &user.id,
                &email,
                core.config.mail.reset_ttl_secs,
            )
            .await?;
            let link = core.mailer.link("/reset-password", &token)?;
            let mins = core.config.mail.reset_ttl_secs / 60;
            Some(core.mailer.compose(
                &email,
                "Reset your password",
                format!(
                    "Someone asked to reset the password of this account.\r\n\r\n\
                     To choose a new password, open this link within {mins} minutes:\r\n\r\n\
                     {link}\r\n\r\n\
                     The link works once. If it was not you, ignore this message: your \
                     password stays as it is.\r\n"
                ),
            )?)
        }
        None => {
            // The same shape of work: a token is made and hashed, nothing is stored.
            let _ = sha256_hex(new_secret_token().as_bytes());
            None
        }
    };
    w.audit(
        "password_reset.request",
        Some(found.as_ref().map_or(email.as_str(), |u| u.id.as_str())),
        json!({ "account": found.is_some(), "throttled": throttled }),
    )
    .await?;
    w.commit().await?;
    if let Some(mail) = mail {
        core.mailer.send_later(mail);
    }
    Ok(())
}

/// Sets a new password with a reset link: every session ends, every access token issued until
/// now is void, the user's other reset links are spent.
pub async fn reset_password(
    core: &Core,
    ctx: &Ctx,
    token: &str,
    new_password: String,
) -> DomainResult<()> {
    // The link is checked before the (costly) hash, and again, atomically, when spent.
    let peek: Option<String> = sqlx::query_scalar(
        "SELECT email FROM mail_tokens WHERE token_hash = $1 AND purpose = $2 \
         AND used_at IS NULL AND expires_at > $3",
    )
    .bind(sha256_hex(token.as_bytes()))
    .bind(RESET)
    .bind(core.clock.now_ms())
    .fetch_optional(&core.db.pool)
    .await?;
    let email = peek.ok_or(DomainError::ResetTokenInvalid)?;
    let hash = core.passwords.new_hash(new_password, &email).await?;
    let mut w = Work::begin(core, ctx).await?;
    let (user_id, email) = spend_token(&mut w, RESET, token)
        .await?
        .ok_or(DomainError::ResetTokenInvalid)?;
    let now = w.now;
    // The link proves the mailbox only while the account still has that address.
    sqlx::query(
        "UPDATE users SET password_hash = $1, updated_at = $2, \
         email_verified_at = COALESCE(email_verified_at, $2) WHERE id = $3 AND email = $4",
    )
    .bind(&hash)
    .bind(now)
    .bind(&user_id)
    .bind(&email)
    .execute(w.conn())
    .await?
    .rows_affected()
    .eq(&1)
    .then_some(())
    .ok_or(DomainError::ResetTokenInvalid)?;
    sqlx::query(
        "UPDATE mail_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL",
    )
    .bind(now)
    .bind(&user_id)
    .bind(RESET)
    .execute(w.conn())
    .await?;
    let ended =
        sessions::revoke_all_in(&mut w, &user_id, "password_reset", None, Void::UserTokens).await?;
    clear_throttle(w.conn(), &email).await?;
    w.audit_as(
        &ctx.acting(&user_id),
        "password.reset",
        Some(&user_id),
        json!({ "sessions_ended": ended }),
    )
    .await?;
    w.commit().await
}

/// Mails the signed-in user a link proving their address.
pub async fn request_email_verification(core: &Core, ctx: &Ctx, user_id: &str) -> DomainResult<()> {
    let mut w = Work::begin(core, ctx).await?;
    let row = sqlx::query("SELECT email, email_verified_at FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(w.conn())
        .await?
        .ok_or(DomainError::NotFound(What::User))?;
    let email: String = row.try_get("email")?;
    if row
        .try_get::<Option<i64>, _>("email_verified_at")?
        .is_some()
    {
        return Err(DomainError::EmailAlreadyVerified);
    }
    core.mailer.require()?;
    let token = store_token(
        &mut w,
        VERIFY,
        user_id,
        &email,
        core.config.mail.verify_ttl_secs,
    )
    .await?;
    let link = core.mailer.link("/verify-email", &token)?;
    let mail = core.mailer.compose(
        &email,
        "Confirm your e-mail address",
        format!(
            "To confirm that this address belongs to your account, open this link:\r\n\r\n\
             {link}\r\n\r\nThe link works once.\r\n"
        ),
    )?;
    w.audit("email.verification_sent", Some(user_id), json!({}))
        .await?;
    w.commit().await?;
    // The caller asked for a mail: they learn whether it went out.
    core.mailer.send(mail).await
}

/// Proves the address with the mailed link (no sign-in needed: the link is the proof).
pub async fn verify_email(core: &Core, ctx: &Ctx, token: &str) -> DomainResult<()> {
    let mut w = Work::begin(core, ctx).await?;
    let (user_id, email) = spend_token(&mut w, VERIFY, token)
        .await?
        .ok_or(DomainError::VerificationTokenInvalid)?;
    let now = w.now;
    let n = sqlx::query(
        "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1), updated_at = $1 \
         WHERE id = $2 AND email = $3",
    )
    .bind(now)
    .bind(&user_id)
    .bind(&email)
    .execute(w.conn())
    .await?
    .rows_affected();
    if n != 1 {
        return Err(DomainError::VerificationTokenInvalid);
    }
    w.audit_as(
        &ctx.acting(&user_id),
        "email.verified",
        Some(&user_id),
        json!({}),
    )
    .await?;
    w.commit().await
}

/// Is the user's address verified?
pub async fn email_verified(core: &Core, user_id: &str) -> DomainResult<bool> {
    let v: Option<Option<i64>> =
        sqlx::query_scalar("SELECT email_verified_at FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&core.db.pool)
            .await?;
    Ok(matches!(v, Some(Some(_))))
}

/// Changes the signed-in user's password: the current one must be right (wrong ones count
/// towards the log-in lock-out of the address); every other session of the user ends.
pub async fn change_password(
    core: &Core,
    ctx: &Ctx,
    user_id: &str,
    current: String,
    new_password: String,
) -> DomainResult<usize> {
    let user = users::by_id(core, user_id)
        .await?
        .ok_or(DomainError::NotFound(What::User))?;
    check_throttle(core, &user.email, core.clock.now_ms()).await?;
    let stored = users::by_email(core, &user.email).await?.map(|(_, h)| h);
    if current.len() > super::passwords::MAX_PASSWORD_BYTES
        || !core.passwords.verify(current, stored).await.ok
    {
        record_failure(
            core,
            ctx,
            &user.email,
            "password.change_failure",
            user_id,
            "current_password_wrong",
        )
        .await?;
        return Err(DomainError::CurrentPasswordWrong);
    }
    let hash = core.passwords.new_hash(new_password, &user.email).await?;
    let mut w = Work::begin(core, ctx).await?;
    let now = w.now;
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(&hash)
        .bind(now)
        .bind(user_id)
        .execute(w.conn())
        .await?;
    // Outstanding reset links were for the old password.
    sqlx::query(
        "UPDATE mail_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .bind(RESET)
    .execute(w.conn())
    .await?;
    let keep = ctx.session.as_deref();
    let ended =
        sessions::revoke_all_in(&mut w, user_id, "password_change", keep, Void::UserTokens).await?;
    clear_throttle(w.conn(), &user.email).await?;
    w.audit(
        "password.change",
        Some(user_id),
        json!({ "sessions_ended": ended }),
    )
    .await?;
    w.commit().await?;
    Ok(ended)
}

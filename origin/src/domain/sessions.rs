//! Sessions, access tokens and rotating refresh tokens. A refresh token is 256 random bits,
//! stored only as its SHA-256, valid once: presenting a rotated one again revokes the session.

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::json;
use sqlx::{AnyConnection, Row};

use super::accounts::User;
use super::audit::{self, Ctx};
use super::ids::{new_id, new_secret_token, sha256_hex};
use super::keys::AccessClaims;
use super::{rbac, revocations, Core};
use crate::config::SessionPolicy;
use crate::db::Tx;
use crate::error::{internal, AppResult, Problem};

/// What a login or a refresh hands out.
#[derive(Debug, Clone)]
pub struct Issued {
    pub access_token: String,
    pub access_expires_in: u64,
    pub refresh_token: String,
    /// Unix ms at which the session (and so every refresh token) ends.
    pub refresh_expires_at: i64,
    pub session_id: String,
    pub user_id: String,
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
}

fn unauthorized(id: &'static str) -> crate::error::AppError {
    Problem::new(StatusCode::UNAUTHORIZED, id).into()
}

async fn mint(
    core: &Core,
    conn: &mut AnyConnection,
    user_id: &str,
    session_id: &str,
    refresh_token: String,
    refresh_expires_at: i64,
) -> AppResult<Issued> {
    let eff = rbac::effective(&mut *conn, user_id).await?;
    let claims = AccessClaims {
        iss: core.config.issuer.clone(),
        aud: core.config.audience.clone(),
        sub: user_id.to_owned(),
        sid: session_id.to_owned(),
        jti: new_id("jti"),
        roles: eff.roles.clone(),
        permissions: eff.permissions.clone(),
    };
    let access_token = core
        .keys
        .mint(
            conn,
            claims,
            core.clock.now_ms(),
            core.config.access_ttl_secs,
        )
        .await
        .map_err(|e| internal(e.to_string()))?;
    Ok(Issued {
        access_token,
        access_expires_in: core.config.access_ttl_secs,
        refresh_token,
        refresh_expires_at,
        session_id: session_id.to_owned(),
        user_id: user_id.to_owned(),
        roles: eff.roles,
        permissions: eff.permissions,
    })
}

async fn insert_refresh(
    conn: &mut AnyConnection,
    session_id: &str,
    now: i64,
    expires_at: i64,
) -> Result<String, sqlx::Error> {
    let token = new_secret_token();
    sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, NULL)")
        .bind(sha256_hex(token.as_bytes()))
        .bind(session_id)
        .bind(now)
        .bind(expires_at)
        .execute(conn)
        .await?;
    Ok(token)
}

/// Starts a session for an authenticated user. Under the `single` policy every other
/// session of the user is revoked in the same transaction.
pub async fn create(core: &Core, user: &User, ctx: &Ctx) -> AppResult<Issued> {
    let now = core.clock.now_ms();
    let session_id = new_id("ses");
    let expires_at = now + core.config.refresh_ttl_secs as i64 * 1000;
    let mut tx = core.db.begin().await?;
    if core.config.session_policy == SessionPolicy::Single {
        revoke_all_in(
            core,
            &mut tx,
            &user.id,
            "single_session_policy",
            ctx,
            None,
            Void::SessionsOnly,
        )
        .await?;
    }
    sqlx::query(
        "INSERT INTO sessions (id, user_id, user_agent, ip, created_at, last_used_at, expires_at, revoked_at, revoked_reason) \
         VALUES ($1, $2, $3, $4, $5, $5, $6, NULL, NULL)",
    )
    .bind(&session_id)
    .bind(&user.id)
    .bind(truncate(&ctx.user_agent, 256))
    .bind(truncate(&ctx.ip, 64))
    .bind(now)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    let refresh = insert_refresh(&mut tx, &session_id, now, expires_at).await?;
    audit::record(
        &mut tx,
        now,
        &Ctx {
            actor: Some(user.id.clone()),
            ..ctx.clone()
        },
        "login.success",
        Some(&session_id),
        json!({}),
    )
    .await?;
    let issued = mint(core, &mut tx, &user.id, &session_id, refresh, expires_at).await?;
    tx.commit().await?;
    Ok(issued)
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Rotates a refresh token. A token that was already rotated is reuse: the session is revoked
/// (committed) and the caller gets 401 `refresh_token_reused`.
pub async fn refresh(core: &Core, token: &str, ctx: &Ctx) -> AppResult<Issued> {
    if token.is_empty() || token.len() > 128 {
        return Err(unauthorized("invalid_refresh_token"));
    }
    let hash = sha256_hex(token.as_bytes());
    let now = core.clock.now_ms();
    let mut tx = core.db.begin().await?;
    let row = sqlx::query(
        "SELECT rt.session_id, rt.used_at, s.user_id, s.revoked_at, s.expires_at, u.disabled \
         FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id JOIN users u ON u.id = s.user_id \
         WHERE rt.token_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        core.metrics.refresh("invalid");
        return Err(unauthorized("invalid_refresh_token"));
    };
    let session_id: String = row.try_get("session_id")?;
    let user_id: String = row.try_get("user_id")?;
    let used_at: Option<i64> = row.try_get("used_at")?;
    let revoked_at: Option<i64> = row.try_get("revoked_at")?;
    let expires_at: i64 = row.try_get("expires_at")?;
    let disabled = row.try_get::<i64, _>("disabled")? != 0;
    if revoked_at.is_some() {
        core.metrics.refresh("revoked");
        return Err(unauthorized("session_revoked"));
    }
    if used_at.is_some() {
        return reuse_detected(core, tx, &session_id, &user_id, ctx).await;
    }
    if expires_at <= now {
        core.metrics.refresh("expired");
        return Err(unauthorized("refresh_token_expired"));
    }
    if disabled {
        core.metrics.refresh("disabled");
        return Err(unauthorized("account_disabled"));
    }
    // Only one rotation can win; a concurrent second one sees 0 rows and is reuse.
    let n = sqlx::query(
        "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
    )
    .bind(now)
    .bind(&hash)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n != 1 {
        return reuse_detected(core, tx, &session_id, &user_id, ctx).await;
    }
    let new_refresh = insert_refresh(&mut tx, &session_id, now, expires_at).await?;
    sqlx::query("UPDATE sessions SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(&session_id)
        .execute(&mut *tx)
        .await?;
    let issued = mint(
        core,
        &mut tx,
        &user_id,
        &session_id,
        new_refresh,
        expires_at,
    )
    .await?;
    tx.commit().await?;
    core.metrics.refresh("rotated");
    Ok(issued)
}

async fn reuse_detected(
    core: &Core,
    mut tx: Tx,
    session_id: &str,
    user_id: &str,
    ctx: &Ctx,
) -> AppResult<Issued> {
    let now = core.clock.now_ms();
    revoke_in(
        core,
        &mut tx,
        session_id,
        user_id,
        "refresh_token_reuse",
        ctx,
    )
    .await?;
    audit::record(
        &mut tx,
        now,
        ctx,
        "refresh.reuse_detected",
        Some(session_id),
        json!({ "user": user_id }),
    )
    .await?;
    tx.commit().await?;
    core.metrics.refresh("reuse_detected");
    tracing::warn!(session = %session_id, user = %user_id, "refresh token reuse: session revoked");
    Err(unauthorized("refresh_token_reused"))
}

/// Revokes one session inside `tx` (feed entry + audit). False if it was already revoked.
pub async fn revoke_in(
    core: &Core,
    tx: &mut Tx,
    session_id: &str,
    user_id: &str,
    reason: &str,
    ctx: &Ctx,
) -> AppResult<bool> {
    let now = core.clock.now_ms();
    let n = sqlx::query("UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND user_id = $4 AND revoked_at IS NULL")
        .bind(now)
        .bind(reason)
        .bind(session_id)
        .bind(user_id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if n == 1 {
        revocations::session_revoked(&mut *tx, session_id, user_id, now, core.access_ttl_ms())
            .await?;
        audit::record(
            &mut *tx,
            now,
            ctx,
            "session.revoke",
            Some(session_id),
            json!({ "user": user_id, "reason": reason }),
        )
        .await?;
    }
    Ok(n == 1)
}

/// What else to void besides the sessions themselves.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Void {
    /// Also every access token of the user issued until now (logout everywhere, disable).
    UserTokens,
    /// Only the sessions' tokens, by session id: a login under the `single` policy, whose own
    /// new token (same second) must survive.
    SessionsOnly,
}

/// Revokes every active session of a user (except `keep`); `void` says whether every access
/// token of the user issued until now is voided too.
pub async fn revoke_all_in(
    core: &Core,
    tx: &mut Tx,
    user_id: &str,
    reason: &str,
    ctx: &Ctx,
    keep: Option<&str>,
    void: Void,
) -> AppResult<usize> {
    let now = core.clock.now_ms();
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    let mut n = 0;
    for id in ids.iter().filter(|id| Some(id.as_str()) != keep) {
        if revoke_in(core, tx, id, user_id, reason, ctx).await? {
            n += 1;
        }
    }
    if keep.is_none() && void == Void::UserTokens {
        revocations::user_tokens_void(tx, user_id, now, core.access_ttl_ms()).await?;
    }
    Ok(n)
}

/// Logout of one session: 404 `session_not_found` when it is not the user's.
pub async fn revoke(
    core: &Core,
    user_id: &str,
    session_id: &str,
    reason: &str,
    ctx: &Ctx,
) -> AppResult<bool> {
    let mut tx = core.db.begin().await?;
    let owner: Option<String> = sqlx::query_scalar("SELECT user_id FROM sessions WHERE id = $1")
        .bind(session_id)
        .fetch_optional(&mut *tx)
        .await?;
    if owner.as_deref() != Some(user_id) {
        return Err(crate::error::not_found("session_not_found"));
    }
    let done = revoke_in(core, &mut tx, session_id, user_id, reason, ctx).await?;
    tx.commit().await?;
    Ok(done)
}

pub async fn revoke_all(core: &Core, user_id: &str, reason: &str, ctx: &Ctx) -> AppResult<usize> {
    let mut tx = core.db.begin().await?;
    let n = revoke_all_in(core, &mut tx, user_id, reason, ctx, None, Void::UserTokens).await?;
    tx.commit().await?;
    Ok(n)
}

#[derive(Debug, Serialize)]
pub struct SessionView {
    pub id: String,
    pub user_agent: String,
    pub ip: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
    pub current: bool,
}

/// The user's live sessions, newest first (times in unix seconds).
pub async fn list(
    core: &Core,
    user_id: &str,
    current: Option<&str>,
) -> AppResult<Vec<SessionView>> {
    let rows = sqlx::query(
        "SELECT id, user_agent, ip, created_at, last_used_at, expires_at FROM sessions \
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC, id",
    )
    .bind(user_id)
    .bind(core.clock.now_ms())
    .fetch_all(&core.db.pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            let id: String = r.try_get("id")?;
            Ok(SessionView {
                current: Some(id.as_str()) == current,
                id,
                user_agent: r.try_get("user_agent")?,
                ip: r.try_get("ip")?,
                created_at: r.try_get::<i64, _>("created_at")? / 1000,
                last_used_at: r.try_get::<i64, _>("last_used_at")? / 1000,
                expires_at: r.try_get::<i64, _>("expires_at")? / 1000,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Is this session live (not revoked, not expired)?
pub async fn is_live(core: &Core, session_id: &str) -> AppResult<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sessions WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(session_id)
    .bind(core.clock.now_ms())
    .fetch_one(&core.db.pool)
    .await?;
    Ok(n > 0)
}

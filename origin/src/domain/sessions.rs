//! Sessions, access tokens and rotating refresh tokens. A refresh token is 256 random bits,
//! stored only as its SHA-256, valid once: presenting a rotated one again revokes the session.
//! A session can be refreshed until the earlier of its absolute end and its idle end
//! ([`Lifetime`]); [`status`] tells the pages when that is.

use serde::Serialize;
use serde_json::json;
use sqlx::{AnyConnection, Row};

use super::ctx::Ctx;
use super::error::{DomainError, DomainResult, RefreshRefused, What};
use super::ids::{new_id, new_secret_token, sha256_hex};
use super::keys::AccessClaims;
use super::users::User;
use super::work::Work;
use super::{rbac, revocations, Core};
use crate::config::SessionPolicy;

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
    /// Unix seconds of the authentication the session started with (kept across refreshes).
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub acr: String,
}

/// `acr` of a single-factor password authentication.
pub const ACR_PWD: &str = "urn:edge-auth:acr:pwd";
/// `acr` of an authentication with two factors (`amr` contains `mfa`).
pub const ACR_MFA: &str = "urn:edge-auth:acr:mfa";

/// How the person proved who they are: RFC 8176 `amr` values (`pwd`, `otp`, `mfa`, …). It is
/// kept on the session with the time it happened, so every token minted for the session — at
/// log-in and at each refresh — carries the same `auth_time`, `amr` and `acr`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authentication {
    pub amr: Vec<String>,
}

impl Authentication {
    /// A password alone.
    pub fn password() -> Self {
        Authentication {
            amr: vec!["pwd".into()],
        }
    }
    /// A password, then a one-time code (TOTP or a recovery code): two factors.
    pub fn password_and_otp() -> Self {
        Authentication {
            amr: vec!["pwd".into(), "otp".into(), "mfa".into()],
        }
    }
    fn from_stored(s: &str) -> Self {
        Authentication {
            amr: s.split_whitespace().map(str::to_owned).collect(),
        }
    }
    fn stored(&self) -> String {
        self.amr.join(" ")
    }
    /// The `acr` this authentication meets: [`ACR_MFA`] when two factors were used, [`ACR_PWD`]
    /// for a password alone, `urn:edge-auth:acr:<method>` for any other single method.
    pub fn acr(&self) -> String {
        if self.amr.iter().any(|m| m == "mfa") {
            ACR_MFA.into()
        } else if self.amr.iter().any(|m| m == "pwd") || self.amr.is_empty() {
            ACR_PWD.into()
        } else {
            format!("urn:edge-auth:acr:{}", self.amr[0])
        }
    }
}

/// When a session stops being refreshable (unix ms): at its absolute end (`REFRESH_TOKEN_TTL_SECS`
/// after it started) or once it was not refreshed for `SESSION_IDLE_TIMEOUT_SECS`, whichever
/// comes first. Every refresh moves the idle end, never the absolute end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetime {
    pub absolute_end: i64,
    pub idle_end: i64,
}

impl Lifetime {
    pub fn new(expires_at: i64, last_used_at: i64, idle_timeout_secs: u64) -> Self {
        Lifetime {
            absolute_end: expires_at,
            idle_end: last_used_at.saturating_add(idle_timeout_secs as i64 * 1000),
        }
    }

    /// The last instant (exclusive) at which a refresh is accepted.
    pub fn refreshable_until(&self) -> i64 {
        self.absolute_end.min(self.idle_end)
    }

    /// Whether a refresh now would push [`Self::refreshable_until`] later: false once the
    /// absolute end is the nearer one (only signing in again helps then).
    pub fn extendable(&self) -> bool {
        self.idle_end < self.absolute_end
    }

    /// May the session be refreshed at `now`? The absolute end wins when both have passed.
    pub fn check(&self, now: i64) -> Result<(), RefreshRefused> {
        if now >= self.absolute_end {
            Err(RefreshRefused::Expired)
        } else if now >= self.idle_end {
            Err(RefreshRefused::Idle)
        } else {
            Ok(())
        }
    }
}

fn refused(why: RefreshRefused) -> DomainError {
    DomainError::Refresh(why)
}

#[allow(clippy::too_many_arguments)]
async fn mint(
    core: &Core,
    conn: &mut AnyConnection,
    user_id: &str,
    session_id: &str,
    refresh_token: String,
    refresh_expires_at: i64,
    now: i64,
    auth_time_ms: i64,
    authn: &Authentication,
) -> DomainResult<Issued> {
    let eff = rbac::effective(&mut *conn, user_id).await?;
    let auth_time = auth_time_ms.div_euclid(1000);
    let acr = authn.acr();
    let claims = AccessClaims {
        iss: core.config.issuer.clone(),
        aud: core.config.audience.clone(),
        sub: user_id.to_owned(),
        sid: session_id.to_owned(),
        jti: new_id("jti"),
        roles: eff.roles.clone(),
        permissions: eff.permissions.clone(),
        auth_time,
        amr: authn.amr.clone(),
        acr: acr.clone(),
    };
    // Dated after any user-wide revocation of this same second (revocations::issuance_after_marks).
    let issued_at = revocations::issuance_after_marks(&mut *conn, user_id, now).await?;
    let access_token = core
        .keys
        .mint(conn, claims, issued_at, core.config.access_ttl_secs)
        .await?;
    Ok(Issued {
        access_token,
        access_expires_in: core.config.access_ttl_secs,
        refresh_token,
        refresh_expires_at,
        session_id: session_id.to_owned(),
        user_id: user_id.to_owned(),
        roles: eff.roles,
        permissions: eff.permissions,
        auth_time,
        amr: authn.amr.clone(),
        acr,
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

/// Starts a session for a user who just signed in with their password alone.
pub async fn create(core: &Core, ctx: &Ctx, user: &User) -> DomainResult<Issued> {
    create_with(core, ctx, user, &Authentication::password()).await
}

/// Starts a session for a user who just authenticated by `authn` (now: the session's
/// `auth_time`). Under the `single` policy every other session of the user is revoked in the
/// same transaction.
pub async fn create_with(
    core: &Core,
    ctx: &Ctx,
    user: &User,
    authn: &Authentication,
) -> DomainResult<Issued> {
    let mut w = Work::begin(core, ctx).await?;
    let issued = create_in(&mut w, user, authn).await?;
    w.commit().await?;
    Ok(issued)
}

/// [`create_with`] inside the caller's unit of work (a log-in's second step consumes its
/// challenge in the same transaction).
pub async fn create_in(
    w: &mut Work<'_>,
    user: &User,
    authn: &Authentication,
) -> DomainResult<Issued> {
    let core = w.core();
    let ctx = w.ctx();
    let session_id = new_id("ses");
    let now = w.now;
    let expires_at = now + core.config.refresh_ttl_secs as i64 * 1000;
    if core.config.session_policy == SessionPolicy::Single {
        revoke_all_in(
            w,
            &user.id,
            "single_session_policy",
            None,
            Void::SessionsOnly,
        )
        .await?;
    }
    sqlx::query(
        "INSERT INTO sessions (id, user_id, user_agent, ip, created_at, last_used_at, expires_at, revoked_at, revoked_reason, auth_time, amr) \
         VALUES ($1, $2, $3, $4, $5, $5, $6, NULL, NULL, $5, $7)",
    )
    .bind(&session_id)
    .bind(&user.id)
    .bind(truncate(&ctx.user_agent, 256))
    .bind(truncate(&ctx.ip, 64))
    .bind(now)
    .bind(expires_at)
    .bind(authn.stored())
    .execute(w.conn())
    .await?;
    let refresh = insert_refresh(w.conn(), &session_id, now, expires_at).await?;
    // The log-in is the user's own act, whoever the request came from.
    w.audit_as(
        &ctx.acting(&user.id),
        "login.success",
        Some(&session_id),
        json!({ "amr": authn.amr }),
    )
    .await?;
    mint(
        core,
        w.conn(),
        &user.id,
        &session_id,
        refresh,
        expires_at,
        now,
        now,
        authn,
    )
    .await
}

/// Step-up: records a new authentication by `authn` on the caller's live session (its
/// `auth_time` becomes now, its `amr` `authn`'s) and mints an access token carrying it. The
/// refresh token is unchanged (another tab may be about to use it); later refreshes carry the
/// new authentication. The returned [`Issued`] has an empty `refresh_token`.
pub async fn step_up_in(
    w: &mut Work<'_>,
    user_id: &str,
    session_id: &str,
    authn: &Authentication,
) -> DomainResult<Issued> {
    let now = w.now;
    let expires_at: Option<i64> = sqlx::query_scalar(
        "UPDATE sessions SET auth_time = $1, amr = $2, last_used_at = $1 \
         WHERE id = $3 AND user_id = $4 AND revoked_at IS NULL AND expires_at > $1 \
         RETURNING expires_at",
    )
    .bind(now)
    .bind(authn.stored())
    .bind(session_id)
    .bind(user_id)
    .fetch_optional(w.conn())
    .await?;
    let expires_at = expires_at.ok_or(DomainError::NotFound(What::Session))?;
    w.audit(
        "session.step_up",
        Some(session_id),
        json!({ "amr": authn.amr }),
    )
    .await?;
    let core = w.core();
    mint(
        core,
        w.conn(),
        user_id,
        session_id,
        String::new(),
        expires_at,
        now,
        now,
        authn,
    )
    .await
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Rotates a refresh token. A token that was already rotated is reuse: the session is revoked
/// (committed) and the caller is refused with [`RefreshRefused::Reused`].
pub async fn refresh(core: &Core, ctx: &Ctx, token: &str) -> DomainResult<Issued> {
    if token.is_empty() || token.len() > 128 {
        return Err(refused(RefreshRefused::Invalid));
    }
    let hash = sha256_hex(token.as_bytes());
    let mut w = Work::begin(core, ctx).await?;
    let now = w.now;
    let row = sqlx::query(
        "SELECT rt.session_id, rt.used_at, s.user_id, s.revoked_at, s.expires_at, s.last_used_at, s.auth_time, s.amr, s.created_at, u.disabled \
         FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id JOIN users u ON u.id = s.user_id \
         WHERE rt.token_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(w.conn())
    .await?;
    let Some(row) = row else {
        core.telemetry.refresh("invalid");
        return Err(refused(RefreshRefused::Invalid));
    };
    let session_id: String = row.try_get("session_id")?;
    let user_id: String = row.try_get("user_id")?;
    let used_at: Option<i64> = row.try_get("used_at")?;
    let revoked_at: Option<i64> = row.try_get("revoked_at")?;
    let expires_at: i64 = row.try_get("expires_at")?;
    let lifetime = Lifetime::new(
        expires_at,
        row.try_get("last_used_at")?,
        core.config.session_idle_timeout_secs,
    );
    let disabled = row.try_get::<i64, _>("disabled")? != 0;
    let auth_time: i64 = match row.try_get::<Option<i64>, _>("auth_time")? {
        Some(t) => t,
        None => row.try_get("created_at")?,
    };
    let authn = Authentication::from_stored(&row.try_get::<String, _>("amr")?);
    if revoked_at.is_some() {
        core.telemetry.refresh("revoked");
        return Err(refused(RefreshRefused::SessionRevoked));
    }
    if used_at.is_some() {
        return reuse_detected(w, &session_id, &user_id).await;
    }
    if let Err(why) = lifetime.check(now) {
        core.telemetry.refresh(match why {
            RefreshRefused::Idle => "idle",
            _ => "expired",
        });
        return Err(refused(why));
    }
    if disabled {
        core.telemetry.refresh("disabled");
        return Err(refused(RefreshRefused::AccountDisabled));
    }
    // Only one rotation can win; a concurrent second one sees 0 rows and is reuse.
    let n = sqlx::query(
        "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
    )
    .bind(now)
    .bind(&hash)
    .execute(w.conn())
    .await?
    .rows_affected();
    if n != 1 {
        return reuse_detected(w, &session_id, &user_id).await;
    }
    let new_refresh = insert_refresh(w.conn(), &session_id, now, expires_at).await?;
    sqlx::query("UPDATE sessions SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(&session_id)
        .execute(w.conn())
        .await?;
    let issued = mint(
        core,
        w.conn(),
        &user_id,
        &session_id,
        new_refresh,
        expires_at,
        now,
        auth_time,
        &authn,
    )
    .await?;
    w.commit().await?;
    core.telemetry.refresh("rotated");
    Ok(issued)
}

/// Reuse of a rotated refresh token: the session is revoked and that is committed, then the
/// caller is refused.
async fn reuse_detected(mut w: Work<'_>, session_id: &str, user_id: &str) -> DomainResult<Issued> {
    revoke_in(&mut w, session_id, user_id, "refresh_token_reuse").await?;
    w.audit(
        "refresh.reuse_detected",
        Some(session_id),
        json!({ "user": user_id }),
    )
    .await?;
    let core = w.core();
    w.commit().await?;
    core.telemetry.refresh("reuse_detected");
    tracing::warn!(session = %session_id, user = %user_id, "refresh token reuse: session revoked");
    Err(refused(RefreshRefused::Reused))
}

/// Revokes one session inside the unit of work (feed entry + audit). False if it was already
/// revoked.
pub async fn revoke_in(
    w: &mut Work<'_>,
    session_id: &str,
    user_id: &str,
    reason: &str,
) -> DomainResult<bool> {
    let now = w.now;
    let n = sqlx::query("UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND user_id = $4 AND revoked_at IS NULL")
        .bind(now)
        .bind(reason)
        .bind(session_id)
        .bind(user_id)
        .execute(w.conn())
        .await?
        .rows_affected();
    if n == 1 {
        w.void_session(session_id, user_id).await?;
        w.audit(
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
    w: &mut Work<'_>,
    user_id: &str,
    reason: &str,
    keep: Option<&str>,
    void: Void,
) -> DomainResult<usize> {
    let now = w.now;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(w.conn())
    .await?;
    let mut n = 0;
    for id in ids.iter().filter(|id| Some(id.as_str()) != keep) {
        if revoke_in(w, id, user_id, reason).await? {
            n += 1;
        }
    }
    if keep.is_none() && void == Void::UserTokens {
        w.void_user_tokens(user_id).await?;
    }
    Ok(n)
}

/// Logout of one session: [`What::Session`] not found when it is not the user's.
pub async fn revoke(
    core: &Core,
    ctx: &Ctx,
    user_id: &str,
    session_id: &str,
    reason: &str,
) -> DomainResult<bool> {
    let mut w = Work::begin(core, ctx).await?;
    let owner: Option<String> = sqlx::query_scalar("SELECT user_id FROM sessions WHERE id = $1")
        .bind(session_id)
        .fetch_optional(w.conn())
        .await?;
    if owner.as_deref() != Some(user_id) {
        return Err(DomainError::NotFound(What::Session));
    }
    let done = revoke_in(&mut w, session_id, user_id, reason).await?;
    w.commit().await?;
    Ok(done)
}

/// Logout everywhere: every session revoked and every access token of the user voided.
pub async fn revoke_all(
    core: &Core,
    ctx: &Ctx,
    user_id: &str,
    reason: &str,
) -> DomainResult<usize> {
    let mut w = Work::begin(core, ctx).await?;
    let n = revoke_all_in(&mut w, user_id, reason, None, Void::UserTokens).await?;
    w.commit().await?;
    Ok(n)
}

#[derive(Debug, Clone, Serialize)]
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
) -> DomainResult<Vec<SessionView>> {
    let rows = sqlx::query(
        "SELECT id, user_agent, ip, created_at, last_used_at, expires_at FROM sessions \
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND last_used_at > $3 \
         ORDER BY created_at DESC, id",
    )
    .bind(user_id)
    .bind(core.clock.now_ms())
    .bind(idle_cutoff(core))
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

/// Sessions last used at or before this instant (unix ms) are past their idle end.
fn idle_cutoff(core: &Core) -> i64 {
    core.clock.now_ms() - core.config.session_idle_timeout_secs as i64 * 1000
}

/// What the pages need to know about the caller's session (times in unix seconds): when its
/// access token expires, when the session can no longer be refreshed and why, and how early to
/// warn. It never contains a token.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub session_id: String,
    /// `exp` of the access token the request carried, when the edge forwarded it.
    pub access_expires_at: Option<i64>,
    /// The absolute end of the session.
    pub session_expires_at: i64,
    /// When the session ends if it is not refreshed before.
    pub idle_expires_at: i64,
    /// The earlier of the two: the last moment a refresh is accepted.
    pub refreshable_until: i64,
    /// Whether refreshing now moves `refreshable_until` later ("Stay signed in" helps).
    pub extendable: bool,
    pub idle_timeout_secs: u64,
    /// How long before `refreshable_until` the pages warn (`SESSION_WARNING_SECS`).
    pub warn_before_secs: u64,
    /// The origin's clock, so a page can correct for its own.
    pub now: i64,
}

/// The status of `user_id`'s session `session_id`, refused like a refresh would be when the
/// session cannot be refreshed any more (revoked, expired, idle, account disabled).
pub async fn status(
    core: &Core,
    user_id: &str,
    session_id: &str,
    access_expires_at: Option<i64>,
) -> DomainResult<Status> {
    let row = sqlx::query(
        "SELECT s.revoked_at, s.expires_at, s.last_used_at, u.disabled FROM sessions s \
         JOIN users u ON u.id = s.user_id WHERE s.id = $1 AND s.user_id = $2",
    )
    .bind(session_id)
    .bind(user_id)
    .fetch_optional(&core.db.pool)
    .await?
    .ok_or(DomainError::NotFound(What::Session))?;
    let now = core.clock.now_ms();
    if row.try_get::<Option<i64>, _>("revoked_at")?.is_some() {
        return Err(refused(RefreshRefused::SessionRevoked));
    }
    let lifetime = Lifetime::new(
        row.try_get("expires_at")?,
        row.try_get("last_used_at")?,
        core.config.session_idle_timeout_secs,
    );
    lifetime.check(now).map_err(refused)?;
    if row.try_get::<i64, _>("disabled")? != 0 {
        return Err(refused(RefreshRefused::AccountDisabled));
    }
    // Ends rounded up and `now` down: a page never believes the session ends before it does (a
    // refresh sent at "the end" would otherwise still succeed and extend an idle session).
    let up = |ms: i64| (ms + 999).div_euclid(1000);
    Ok(Status {
        session_id: session_id.to_owned(),
        access_expires_at,
        session_expires_at: up(lifetime.absolute_end),
        idle_expires_at: up(lifetime.idle_end),
        refreshable_until: up(lifetime.refreshable_until()),
        extendable: lifetime.extendable(),
        idle_timeout_secs: core.config.session_idle_timeout_secs,
        warn_before_secs: core.config.session_warning_secs,
        now: now.div_euclid(1000),
    })
}

/// Is this session live (not revoked, not expired, not idle)?
pub async fn is_live(core: &Core, session_id: &str) -> DomainResult<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sessions WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2 AND last_used_at > $3",
    )
    .bind(session_id)
    .bind(core.clock.now_ms())
    .bind(idle_cutoff(core))
    .fetch_one(&core.db.pool)
    .await?;
    Ok(n > 0)
}

pub use super::freshness::require_fresh;

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn a_session_is_refreshable_until_the_earlier_of_its_absolute_and_idle_end() {
        // started at 0, lasts 60 min, idle timeout 10 min
        let fresh = Lifetime::new(60 * MIN, 0, 600);
        assert_eq!(fresh.refreshable_until(), 10 * MIN);
        assert!(fresh.extendable());
        // refreshed at 55 min: the absolute end is nearer than the idle end
        let late = Lifetime::new(60 * MIN, 55 * MIN, 600);
        assert_eq!(late.refreshable_until(), 60 * MIN);
        assert!(!late.extendable());
    }

    #[test]
    fn check_reads_as_sentences() {
        let l = Lifetime::new(60 * MIN, 0, 600);
        for (now, expected) in [
            (0, Ok(())),
            (10 * MIN - 1, Ok(())),
            (10 * MIN, Err(RefreshRefused::Idle)),
            (59 * MIN, Err(RefreshRefused::Idle)),
            (60 * MIN, Err(RefreshRefused::Expired)),
        ] {
            assert_eq!(l.check(now), expected, "at {now} ms");
        }
        // Refreshed at 55 min: idle until 65, but the absolute end at 60 comes first.
        let late = Lifetime::new(60 * MIN, 55 * MIN, 600);
        assert_eq!(late.check(59 * MIN), Ok(()));
        assert_eq!(late.check(61 * MIN), Err(RefreshRefused::Expired));
    }
}

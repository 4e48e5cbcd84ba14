//! How recent the caller's authentication is: the defence-in-depth check of sensitive
//! operations (RFC 9470's `max_age`), the same rule the edge enforces with `require_fresh_auth`.
//! A leaf over `ctx` and the sessions table, so any module may call it (`rbac` included, which
//! `sessions` itself depends on).

use super::ctx::{Authority, Ctx};
use super::error::{DomainError, DomainResult};
use super::Core;

/// Defence in depth for sensitive operations (disabling a second factor, …): the caller must
/// have authenticated at most `max_age_secs` ago, else [`DomainError::StepUpRequired`]. The
/// time is the one the edge forwarded from the verified token (`Ctx::auth_time`) when it does,
/// else the caller's session's own `auth_time` (the same value: tokens carry their session's).
/// Returns the `auth_time` (unix seconds) it accepted.
pub async fn require_fresh(core: &Core, ctx: &Ctx, max_age_secs: u64) -> DomainResult<i64> {
    let stale = || DomainError::StepUpRequired { max_age_secs };
    let auth_time = match ctx.auth_time {
        Some(t) => t,
        None => {
            let (Some(user), Some(session)) = (ctx.actor.as_deref(), ctx.session.as_deref()) else {
                return Err(stale());
            };
            let t: Option<Option<i64>> = sqlx::query_scalar(
                "SELECT auth_time FROM sessions WHERE id = $1 AND user_id = $2 \
                 AND revoked_at IS NULL AND expires_at > $3",
            )
            .bind(session)
            .bind(user)
            .bind(core.clock.now_ms())
            .fetch_optional(&core.db.pool)
            .await?;
            t.flatten().ok_or_else(stale)?.div_euclid(1000)
        }
    };
    let now = core.clock.now_ms().div_euclid(1000);
    // A future auth_time (clock skew between edge and origin) counts as now.
    if now.saturating_sub(auth_time) > max_age_secs as i64 {
        return Err(stale());
    }
    Ok(auth_time)
}

/// [`require_fresh`] with `STEP_UP_MAX_AGE_SECS` for a person acting through the API; the
/// operator at the command line (`create-admin`, the scheduler) has no session to be fresh.
pub async fn require_fresh_person(core: &Core, ctx: &Ctx) -> DomainResult<()> {
    if matches!(ctx.authority, Authority::Operator) {
        return Ok(());
    }
    require_fresh(core, ctx, core.config.step_up_max_age_secs).await?;
    Ok(())
}

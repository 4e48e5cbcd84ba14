//! Data retention: a sweeper every `serve` process runs (`RETENTION_SWEEP_SECS`) deleting what
//! is past its retention — ended sessions and their refresh tokens, revocation-feed entries past
//! their `until`, spent or expired mailed links and MFA challenges, stale log-in throttle
//! entries, idempotency keys past their window, processed webhook events, and (kept longest)
//! audit entries. Deletes are idempotent, so processes sweeping at once only repeat each other.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::ctx::Ctx;
use super::error::DomainResult;
use super::work::Work;
use super::{idempotency, Core};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// What one sweep deleted, per kind.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Swept {
    pub sessions: u64,
    pub refresh_tokens: u64,
    pub revocations: u64,
    pub mail_tokens: u64,
    pub mfa_challenges: u64,
    /// Passkey ceremonies: gone once expired (anyone may start one, so none waits for days).
    pub webauthn_challenges: u64,
    pub login_throttle: u64,
    pub idempotency_keys: u64,
    pub webhook_events: u64,
    pub audit_entries: u64,
}

impl Swept {
    pub fn total(&self) -> u64 {
        self.sessions
            + self.refresh_tokens
            + self.revocations
            + self.mail_tokens
            + self.mfa_challenges
            + self.webauthn_challenges
            + self.login_throttle
            + self.idempotency_keys
            + self.webhook_events
            + self.audit_entries
    }
}

/// One sweep, in one transaction, audited (`retention.sweep`) when it deleted anything.
pub async fn sweep(core: &Core, ctx: &Ctx) -> DomainResult<Swept> {
    let r = core.config.retention;
    let mut w = Work::begin(core, ctx).await?;
    let now = w.now;
    let sessions_cut = now - r.sessions_days as i64 * DAY_MS;
    let tokens_cut = now - r.tokens_days as i64 * DAY_MS;
    let webhooks_cut = now - r.webhooks_days as i64 * DAY_MS;
    let audit_cut = now - r.audit_days as i64 * DAY_MS;
    let mut s = Swept::default();
    macro_rules! run {
        ($field:ident, $sql:expr, $($arg:expr),*) => {
            s.$field += sqlx::query($sql)$(.bind($arg))*.execute(w.conn()).await?.rows_affected();
        };
    }
    let ended = "SELECT id FROM sessions WHERE expires_at < $1 OR revoked_at < $1";
    run!(
        refresh_tokens,
        &format!("DELETE FROM refresh_tokens WHERE session_id IN ({ended})"),
        sessions_cut
    );
    run!(
        sessions,
        "DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1",
        sessions_cut
    );
    // Past `until` no token it could affect is alive: the edge needs it no more.
    run!(
        revocations,
        "DELETE FROM revocations WHERE relevant_until < $1",
        now
    );
    run!(
        mail_tokens,
        "DELETE FROM mail_tokens WHERE used_at < $1 OR expires_at < $1",
        tokens_cut
    );
    run!(
        mfa_challenges,
        "DELETE FROM mfa_challenges WHERE used_at < $1 OR expires_at < $1",
        tokens_cut
    );
    run!(
        webauthn_challenges,
        "DELETE FROM webauthn_challenges WHERE expires_at < $1",
        now
    );
    run!(
        login_throttle,
        "DELETE FROM login_throttle WHERE updated_at < $1 AND locked_until < $2",
        tokens_cut - DAY_MS,
        now
    );
    run!(
        idempotency_keys,
        "DELETE FROM idempotency_keys WHERE created_at < $1",
        tokens_cut - idempotency::RETENTION_MS
    );
    let processed =
        "SELECT id FROM webhook_events WHERE status IN ('done', 'ignored') AND finished_at < $1";
    sqlx::query(&format!(
        "DELETE FROM webhook_attempts WHERE event_row IN ({processed})"
    ))
    .bind(webhooks_cut)
    .execute(w.conn())
    .await?;
    run!(
        webhook_events,
        "DELETE FROM webhook_events WHERE status IN ('done', 'ignored') AND finished_at < $1",
        webhooks_cut
    );
    run!(
        audit_entries,
        "DELETE FROM audit_log WHERE at < $1",
        audit_cut
    );
    if s.total() > 0 {
        w.audit("retention.sweep", None, json!(s)).await?;
    }
    w.commit().await?;
    Ok(s)
}

/// The sweeper of a `serve` process (none when `RETENTION_SWEEP_SECS=0`).
pub fn spawn_sweeper(
    core: Arc<Core>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let every = core.config.retention.sweep_every_secs;
    if every == 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        let ctx = Ctx::scheduler();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(every)) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
            match sweep(&core, &ctx).await {
                Ok(s) if s.total() > 0 => tracing::info!(?s, "retention sweep"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention sweep failed; next try later"),
            }
        }
    }))
}

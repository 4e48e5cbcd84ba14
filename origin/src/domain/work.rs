//! The unit of work every changing operation runs in: one transaction, one instant, one actor,
//! and the two things a change implies — its audit entry and its revocation-feed marks — written
//! through it so they commit (or roll back) with the change itself.

use serde_json::Value;
use sqlx::AnyConnection;

use super::audit::{self, Ctx};
use super::error::DomainResult;
use super::{revocations, Core};
use crate::db::Tx;

/// An open transaction on behalf of `ctx`, at `now`. Dropped without [`Work::commit`], every
/// write in it (change, audit row, revocation marks) is rolled back together.
pub struct Work<'a> {
    core: &'a Core,
    ctx: &'a Ctx,
    /// The operation's instant (unix ms): every row it writes carries the same time.
    pub now: i64,
    tx: Tx,
}

impl<'a> Work<'a> {
    /// Opens the transaction (on SQLite it takes the write lock up front).
    pub async fn begin(core: &'a Core, ctx: &'a Ctx) -> DomainResult<Work<'a>> {
        let tx = core.db.begin().await?;
        Ok(Work {
            core,
            ctx,
            now: core.clock.now_ms(),
            tx,
        })
    }

    pub fn core(&self) -> &'a Core {
        self.core
    }

    pub fn ctx(&self) -> &'a Ctx {
        self.ctx
    }

    /// The transaction's connection, for the operation's own statements.
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// Records who did what to whom, in this transaction.
    pub async fn audit(
        &mut self,
        action: &str,
        target: Option<&str>,
        detail: Value,
    ) -> DomainResult<()> {
        let ctx = self.ctx;
        self.audit_as(ctx, action, target, detail).await
    }

    /// [`Work::audit`] with another actor (a log-in is done by the user it signs in).
    pub async fn audit_as(
        &mut self,
        ctx: &Ctx,
        action: &str,
        target: Option<&str>,
        detail: Value,
    ) -> DomainResult<()> {
        audit::record(&mut self.tx, self.now, ctx, action, target, detail).await?;
        Ok(())
    }

    /// Every access token of `user_id` issued until now is void (a feed entry the edge polls).
    pub async fn void_user_tokens(&mut self, user_id: &str) -> DomainResult<()> {
        let ttl = self.core.access_ttl_ms();
        revocations::user_tokens_void(&mut self.tx, user_id, self.now, ttl).await?;
        Ok(())
    }

    /// The access tokens of one session are void.
    pub async fn void_session(&mut self, session_id: &str, user_id: &str) -> DomainResult<()> {
        let ttl = self.core.access_ttl_ms();
        revocations::session_revoked(&mut self.tx, session_id, user_id, self.now, ttl).await?;
        Ok(())
    }

    pub async fn commit(self) -> DomainResult<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

//! The audit log: who did what to whom, written in the same transaction as the change (by the
//! unit of work, `work::Work::audit`), and its newest-first pages.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::ctx::RBAC_ADMIN;
use super::error::DomainResult;
use super::page::Page;
use super::Core;

pub use super::ctx::Ctx;

pub async fn record(
    conn: &mut AnyConnection,
    at: i64,
    ctx: &Ctx,
    action: &str,
    target: Option<&str>,
    detail: serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, target, detail, request_id) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(at)
    .bind(ctx.actor.clone())
    .bind(action)
    .bind(target.map(str::to_owned))
    .bind(detail.to_string())
    .bind(ctx.request_id.clone())
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct Entry {
    pub id: i64,
    pub at: i64,
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub detail: serde_json::Value,
    pub request_id: Option<String>,
}

/// Newest first, optionally one action only; the cursor is the last entry's id.
pub async fn list(
    core: &Core,
    ctx: &Ctx,
    action: Option<&str>,
    page: Page,
) -> DomainResult<Vec<Entry>> {
    ctx.require(RBAC_ADMIN)?;
    let mut conn = core.db.pool.acquire().await?;
    Ok(self::page(&mut conn, page.before, action, page.limit).await?)
}

/// Newest first; `before` is the id cursor from the previous page.
pub async fn page(
    conn: &mut AnyConnection,
    before: Option<i64>,
    action: Option<&str>,
    limit: i64,
) -> Result<Vec<Entry>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, at, actor, action, target, detail, request_id FROM audit_log \
         WHERE id < $1 AND ($2 = '' OR action = $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(before.unwrap_or(i64::MAX))
    .bind(action.unwrap_or("").to_owned())
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Entry {
                id: r.try_get("id")?,
                at: r.try_get("at")?,
                actor: r.try_get("actor")?,
                action: r.try_get("action")?,
                target: r.try_get("target")?,
                detail: serde_json::from_str(&r.try_get::<String, _>("detail")?)
                    .unwrap_or_default(),
                request_id: r.try_get("request_id")?,
            })
        })
        .collect()
}

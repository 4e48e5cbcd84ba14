//! Idempotency keys: an unsafe request carrying `Idempotency-Key` runs once per (caller, key);
//! replays within 24 h get the stored answer, a different body gets 422, a duplicate while the
//! first is still running gets 409.

use sqlx::Row;

use super::error::DomainResult;
use super::Core;

pub const RETENTION_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug)]
pub enum Begin {
    /// First time: run the request, then `finish` or `abandon`.
    Fresh,
    Replay {
        status: u16,
        content_type: Option<String>,
        body: Vec<u8>,
    },
    InFlight,
    Mismatch,
}

pub async fn begin(core: &Core, scope: &str, key: &str, request_hash: &str) -> DomainResult<Begin> {
    let now = core.clock.now_ms();
    for _ in 0..2 {
        let n = sqlx::query(
            "INSERT INTO idempotency_keys (scope, key, request_hash, status, content_type, body, created_at) \
             VALUES ($1, $2, $3, NULL, NULL, NULL, $4) ON CONFLICT (scope, key) DO NOTHING",
        )
        .bind(scope)
        .bind(key)
        .bind(request_hash)
        .bind(now)
        .execute(&core.db.pool)
        .await?
        .rows_affected();
        if n == 1 {
            return Ok(Begin::Fresh);
        }
        let Some(row) = sqlx::query("SELECT request_hash, status, content_type, body, created_at FROM idempotency_keys WHERE scope = $1 AND key = $2")
            .bind(scope)
            .bind(key)
            .fetch_optional(&core.db.pool)
            .await?
        else {
            continue; // deleted in between: try again
        };
        let created: i64 = row.try_get("created_at")?;
        if created < now - RETENTION_MS {
            sqlx::query(
                "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND created_at = $3",
            )
            .bind(scope)
            .bind(key)
            .bind(created)
            .execute(&core.db.pool)
            .await?;
            continue;
        }
        if row.try_get::<String, _>("request_hash")? != request_hash {
            return Ok(Begin::Mismatch);
        }
        return Ok(match row.try_get::<Option<i64>, _>("status")? {
            None => Begin::InFlight,
            Some(s) => Begin::Replay {
                status: s as u16,
                content_type: row.try_get("content_type")?,
                body: row
                    .try_get::<Option<Vec<u8>>, _>("body")?
                    .unwrap_or_default(),
            },
        });
    }
    Ok(Begin::InFlight)
}

pub async fn finish(
    core: &Core,
    scope: &str,
    key: &str,
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
) -> DomainResult<()> {
    sqlx::query("UPDATE idempotency_keys SET status = $1, content_type = $2, body = $3 WHERE scope = $4 AND key = $5")
        .bind(status as i64)
        .bind(content_type)
        .bind(body)
        .bind(scope)
        .bind(key)
        .execute(&core.db.pool)
        .await?;
    Ok(())
}

/// The request failed on our side: forget the key so the client may retry.
pub async fn abandon(core: &Core, scope: &str, key: &str) -> DomainResult<()> {
    sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND status IS NULL")
        .bind(scope)
        .bind(key)
        .execute(&core.db.pool)
        .await?;
    Ok(())
}

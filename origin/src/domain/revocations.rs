//! The revocation feed the edge polls: revoked sessions and per-user "issued before T is void"
//! marks, each kept only while an access token it could affect may still be alive.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

/// Leeway added to the access-token lifetime (the edge's clock may lag ours).
pub const LEEWAY_MS: i64 = 60_000;

pub async fn session_revoked(
    conn: &mut AnyConnection,
    session_id: &str,
    user_id: &str,
    now: i64,
    access_ttl_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO revocations (kind, session_id, user_id, issued_before, relevant_until, created_at) \
         VALUES ('session', $1, $2, $3, $4, $3)",
    )
    .bind(session_id)
    .bind(user_id)
    .bind(now)
    .bind(now + access_ttl_ms + LEEWAY_MS)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every access token of `user_id` issued before `now` is void.
pub async fn user_tokens_void(
    conn: &mut AnyConnection,
    user_id: &str,
    now: i64,
    access_ttl_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO revocations (kind, session_id, user_id, issued_before, relevant_until, created_at) \
         VALUES ('user', NULL, $1, $2, $3, $2)",
    )
    .bind(user_id)
    .bind(now)
    .bind(now + access_ttl_ms + LEEWAY_MS)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Entry {
    pub seq: i64,
    /// `session` or `user`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    pub user: String,
    /// For `user` marks: tokens with `iat` before this (unix seconds) are void.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_before: Option<i64>,
    /// Unix seconds after which the entry no longer matters (every affected token has expired).
    pub until: i64,
}

pub async fn since(
    conn: &mut AnyConnection,
    cursor: i64,
    now: i64,
    limit: i64,
) -> Result<(Vec<Entry>, i64), sqlx::Error> {
    let rows = sqlx::query(
        "SELECT seq, kind, session_id, user_id, issued_before, relevant_until FROM revocations \
         WHERE seq > $1 AND relevant_until > $2 ORDER BY seq LIMIT $3",
    )
    .bind(cursor)
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    let mut next = cursor;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let seq: i64 = r.try_get("seq")?;
        next = next.max(seq);
        let until: i64 = r.try_get("relevant_until")?;
        if until <= now {
            continue; // expired entries still advance the cursor
        }
        let kind: String = r.try_get("kind")?;
        let issued_before: i64 = r.try_get("issued_before")?;
        out.push(Entry {
            seq,
            // Rounded up: a token minted earlier in the same second is void too (its `iat`,
            // whole seconds, would otherwise equal `before` and pass `iat < before`).
            issued_before: (kind == "user").then_some((issued_before + 999) / 1000),
            kind,
            session: r.try_get("session_id")?,
            user: r.try_get("user_id")?,
            until: until / 1000,
        });
    }
    Ok((out, next))
}

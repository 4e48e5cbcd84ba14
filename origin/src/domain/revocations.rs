//! The revocation feed the edge polls: revoked sessions and per-user "issued before T is void"
//! marks, each kept only while an access token it could affect may still be alive.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use crate::db::{Backend, Db};

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

/// When the next access token of `user_id`, minted at `now` (ms), must say it was issued.
///
/// A user-wide mark voids `iat < ceil(T / 1000)` (see [`read`]): the feed rounds up so a token
/// minted earlier in the mark's own second is void too. A token minted *after* the mark in that
/// same second would then be void as well — a refresh right after a role change or a password
/// change would hand out a token the edge refuses. So such a token is dated the mark's next
/// whole second (at most 1 s ahead; the edge takes `iat`/`nbf` with its leeway).
pub async fn issuance_after_marks(
    conn: &mut AnyConnection,
    user_id: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let latest: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(issued_before) FROM revocations WHERE kind = 'user' AND user_id = $1 AND relevant_until > $2",
    )
    .bind(user_id)
    .bind(now)
    .fetch_one(conn)
    .await?;
    // The mark's second rounded up, as the feed writes it, when that is later than now.
    Ok(latest.map_or(now, |t| now.max((t + 999).div_euclid(1000) * 1000)))
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

/// Where an edge is in the feed: the last entry it received, in commit order.
///
/// Entries are ordered by the writing transaction's id, then `seq`. On PostgreSQL `seq` alone is
/// not commit order (an identity value is drawn at insert; the transaction may commit much later),
/// so a cursor on `seq` could step over an entry still in flight and the edge would never learn
/// of that revocation. A page never goes past the oldest transaction still running, so every
/// entry at or below a cursor is final. On SQLite (one writer at a time) `txid` is always 0.
///
/// Written `<txid>.<seq>`: digits and a dot only, as the edge puts it into a query string
/// unencoded. A bare `<seq>` (what earlier origins handed out) reads as txid 0: exact on
/// SQLite; on PostgreSQL it replays the entries that still matter, which the edge merges
/// idempotently — a replay is harmless, a skip is not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeedCursor {
    pub txid: i64,
    pub seq: i64,
}

impl FeedCursor {
    /// The cursor in a `since` parameter; `None` for anything but `<seq>` or `<txid>.<seq>` in
    /// non-negative decimal.
    pub fn parse(text: &str) -> Option<FeedCursor> {
        let number = |s: &str| {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<i64>().ok())
                .flatten()
        };
        match text.split_once('.') {
            None => Some(FeedCursor {
                txid: 0,
                seq: number(text)?,
            }),
            Some((txid, seq)) => Some(FeedCursor {
                txid: number(txid)?,
                seq: number(seq)?,
            }),
        }
    }
}

impl std::fmt::Display for FeedCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.txid, self.seq)
    }
}

/// The lowest transaction id whose entries may not be final yet, as SQL for the backend. On
/// PostgreSQL every transaction below the snapshot's xmin has ended and a new one can only get a
/// larger id; it is evaluated in the same statement as the read, so it is that read's snapshot.
fn horizon_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "(SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint)",
        // One writer at a time: everything committed is final.
        Backend::Sqlite => "9223372036854775807",
    }
}

/// One page of the feed.
#[derive(Debug)]
pub struct FeedPage {
    /// Entries after the cursor that still matter, in commit order.
    pub entries: Vec<Entry>,
    /// The cursor for the next page (unchanged when there is nothing new).
    pub next: FeedCursor,
    /// Committed entries exist past a transaction still in flight: they come in a later page,
    /// once it ends. The edge polls again on its interval.
    pub held_back: bool,
}

/// How long a poll waits for in-flight writers to end before answering with what is final.
/// Write transactions here last milliseconds; this keeps a logout from waiting a whole poll
/// interval behind some other request's transaction.
pub const HOLD_BACK_WAIT_MS: u64 = 250;

/// One read of the feed: entries after `cursor` that still matter at `now`, at most `limit`,
/// up to the first one that is not final.
pub async fn read(
    conn: &mut AnyConnection,
    backend: Backend,
    cursor: FeedCursor,
    now: i64,
    limit: i64,
) -> Result<FeedPage, sqlx::Error> {
    // Rows past the horizon sort after every final one, so the final ones are a prefix.
    let sql = format!(
        "SELECT txid, seq, kind, session_id, user_id, issued_before, relevant_until, \
         {horizon} AS horizon FROM revocations \
         WHERE (txid > $1 OR (txid = $1 AND seq > $2)) AND relevant_until > $3 \
         ORDER BY txid, seq LIMIT $4",
        horizon = horizon_sql(backend)
    );
    let rows = sqlx::query(&sql)
        .bind(cursor.txid)
        .bind(cursor.seq)
        .bind(now)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    let mut page = FeedPage {
        entries: Vec::with_capacity(rows.len()),
        next: cursor,
        held_back: false,
    };
    for r in rows {
        let txid: i64 = r.try_get("txid")?;
        let horizon: i64 = r.try_get("horizon")?;
        if txid >= horizon {
            page.held_back = true;
            break;
        }
        let seq: i64 = r.try_get("seq")?;
        page.next = page.next.max(FeedCursor { txid, seq });
        let until: i64 = r.try_get("relevant_until")?;
        let kind: String = r.try_get("kind")?;
        let issued_before: i64 = r.try_get("issued_before")?;
        page.entries.push(Entry {
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
    Ok(page)
}

/// The page an edge gets: [`read`], re-read for up to [`HOLD_BACK_WAIT_MS`] while entries are
/// held back behind a writer still in flight.
///
/// On PostgreSQL a long write transaction anywhere in the cluster holds back every entry
/// committed after it started, until it ends: the feed is delayed, never incomplete
/// (`idle_in_transaction_session_timeout` bounds a forgotten one).
pub async fn since(
    db: &Db,
    cursor: FeedCursor,
    now: i64,
    limit: i64,
) -> Result<FeedPage, sqlx::Error> {
    let mut conn = db.pool.acquire().await?;
    let started = std::time::Instant::now();
    loop {
        let page = read(&mut conn, db.backend, cursor, now, limit).await?;
        let waited = started.elapsed().as_millis() as u64;
        if !page.held_back || waited >= HOLD_BACK_WAIT_MS {
            return Ok(page);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::FeedCursor;

    #[test]
    fn a_cursor_reads_seq_or_txid_dot_seq_in_plain_decimal_and_nothing_else() {
        let c = |txid, seq| Some(FeedCursor { txid, seq });
        assert_eq!(FeedCursor::parse("0"), c(0, 0));
        assert_eq!(
            FeedCursor::parse("17"),
            c(0, 17),
            "an earlier origin's seq cursor"
        );
        assert_eq!(FeedCursor::parse("812.17"), c(812, 17));
        for bad in [
            "",
            "-1",
            "abc",
            "1.",
            ".1",
            "1.2.3",
            "1.-5",
            "+1",
            "1x",
            " 1",
            "99999999999999999999",
        ] {
            assert_eq!(FeedCursor::parse(bad), None, "{bad:?}");
        }
        let written = FeedCursor { txid: 812, seq: 17 }.to_string();
        assert_eq!(
            FeedCursor::parse(&written),
            c(812, 17),
            "round trip of {written}"
        );
    }

    #[test]
    fn cursors_order_by_transaction_first() {
        let a = FeedCursor { txid: 5, seq: 90 };
        let b = FeedCursor { txid: 6, seq: 10 };
        assert!(a < b, "a later transaction comes after, whatever its seq");
    }
}

//! The admin's user directory: find accounts by e-mail (or exact id) and see each one's state
//! and directly assigned roles, a page at a time. Needs `rbac:admin`, like every other read of
//! other people's accounts.

use serde::Serialize;
use sqlx::Row;

use super::ctx::RBAC_ADMIN;
use super::error::{DomainResult, SearchRefused};
use super::Core;

/// At most this many users a page (the default when the caller names none: [`DEFAULT_LIMIT`]).
pub const MAX_LIMIT: i64 = 100;
pub const DEFAULT_LIMIT: i64 = 25;
/// Longest search text accepted (an e-mail address is at most 254 characters).
pub const MAX_QUERY_LEN: usize = 254;

/// A validated search: the text (lower-cased; empty = everyone), the e-mail cursor (users
/// after it in e-mail order), and the page size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSearch {
    text: String,
    after: Option<String>,
    limit: i64,
}

impl UserSearch {
    /// Absent or empty values take the defaults (first page, everyone, [`DEFAULT_LIMIT`]).
    pub fn parse(
        text: Option<&str>,
        after: Option<&str>,
        limit: Option<&str>,
    ) -> Result<UserSearch, SearchRefused> {
        let clean = |s: &str| s.len() <= MAX_QUERY_LEN && !s.chars().any(char::is_control);
        let text = text.unwrap_or("").trim();
        if !clean(text) {
            return Err(SearchRefused::Query);
        }
        let after = match after.filter(|a| !a.is_empty()) {
            None => None,
            Some(a) if clean(a) => Some(a.to_owned()),
            Some(_) => return Err(SearchRefused::Cursor),
        };
        let limit = match limit.filter(|l| !l.is_empty()) {
            None => DEFAULT_LIMIT,
            Some(l) => l
                .parse::<i64>()
                .ok()
                .filter(|v| (1..=MAX_LIMIT).contains(v))
                .ok_or(SearchRefused::Limit)?,
        };
        Ok(UserSearch {
            text: text.to_lowercase(),
            after,
            limit,
        })
    }

    /// The `LIKE` pattern: the text as a literal substring (`%`, `_` and `\` escaped).
    fn pattern(&self) -> String {
        let mut p = String::with_capacity(self.text.len() + 2);
        p.push('%');
        for c in self.text.chars() {
            if matches!(c, '%' | '_' | '\\') {
                p.push('\\');
            }
            p.push(c);
        }
        p.push('%');
        p
    }
}

/// One row of the directory.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UserSummary {
    pub id: String,
    pub email: String,
    pub disabled: bool,
    /// Unix ms.
    pub created_at: i64,
    /// Roles assigned directly (not the inherited ones), by name.
    pub roles: Vec<String>,
}

/// One page of users whose e-mail contains the text (or whose id is exactly it), in e-mail
/// order, and the cursor of the next page (`None` on the last one).
pub async fn search(
    core: &Core,
    ctx: &super::Ctx,
    q: &UserSearch,
) -> DomainResult<(Vec<UserSummary>, Option<String>)> {
    ctx.require(RBAC_ADMIN)?;
    let mut conn = core.db.pool.acquire().await?;
    let rows = sqlx::query(
        "SELECT id, email, disabled, created_at FROM users \
         WHERE (email LIKE $1 ESCAPE '\\' OR id = $2) AND email > $3 \
         ORDER BY email LIMIT $4",
    )
    .bind(q.pattern())
    .bind(q.text.clone())
    .bind(q.after.clone().unwrap_or_default())
    .bind(q.limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut users = Vec::with_capacity(rows.len());
    for r in rows {
        let id: String = r.try_get("id")?;
        let roles: Vec<String> =
            sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
                .bind(id.clone())
                .fetch_all(&mut *conn)
                .await?;
        users.push(UserSummary {
            email: r.try_get("email")?,
            disabled: r.try_get::<i64, _>("disabled")? != 0,
            created_at: r.try_get("created_at")?,
            id,
            roles,
        });
    }
    let next = (users.len() as i64 == q.limit)
        .then(|| users.last().map(|u| u.email.clone()))
        .flatten();
    Ok((users, next))
}

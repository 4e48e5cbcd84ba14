//! Reads of relations for many owners at once — roles of users, records and permissions of
//! roles, effective permissions of users, live sessions of users — so a GraphQL page of 50
//! users costs a handful of statements, not 50 per relation (the DataLoaders of
//! `graphql::loaders` call these). Each read checks its caller here, like every operation.
//!
//! The `IN (...)` lists are generated placeholders (`$1, $2, …`) only; values are always bound.
//! Keys are read in chunks of [`CHUNK`] so a statement never carries more parameters than the
//! backends accept.

use std::collections::{BTreeSet, HashMap};

use sqlx::{AnyConnection, Row};

use super::ctx::{Ctx, RBAC_ADMIN};
use super::error::{DomainError, DomainResult};
use super::rbac::Effective;
use super::sessions::SessionView;
use super::users::User;
use super::Core;

/// Keys per statement.
pub const CHUNK: usize = 500;

/// A role as stored: its parent and description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleRecord {
    pub name: String,
    pub parent: Option<String>,
    pub description: String,
}

fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `sql` (with `{in}` standing for the key placeholders) once per chunk of keys.
async fn rows_in(
    conn: &mut AnyConnection,
    sql: &str,
    keys: &[String],
) -> Result<Vec<sqlx::any::AnyRow>, sqlx::Error> {
    let mut out = Vec::new();
    let uniq: Vec<&String> = keys.iter().collect::<BTreeSet<_>>().into_iter().collect();
    for chunk in uniq.chunks(CHUNK) {
        let text = sql.replace("{in}", &placeholders(1, chunk.len()));
        let mut q = sqlx::query(&text);
        for k in chunk {
            q = q.bind((*k).clone());
        }
        out.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(out)
}

/// Only an administrator, or a user asking about themselves alone.
fn require_admin_or_self(ctx: &Ctx, user_ids: &[String]) -> DomainResult<()> {
    if ctx.may(RBAC_ADMIN) {
        return Ok(());
    }
    match ctx.actor.as_deref() {
        Some(me) if !user_ids.is_empty() && user_ids.iter().all(|u| u == me) => Ok(()),
        _ => Err(DomainError::PermissionMissing {
            permission: RBAC_ADMIN,
        }),
    }
}

/// Users by id, at most `limit` after the id `after` (ids ascending: a stable cursor).
pub async fn users_page(
    core: &Core,
    ctx: &Ctx,
    after: Option<&str>,
    limit: i64,
) -> DomainResult<Vec<User>> {
    ctx.require(RBAC_ADMIN)?;
    let rows = sqlx::query(
        "SELECT id, email, disabled FROM users WHERE id > $1 AND deleted_at IS NULL \
         ORDER BY id LIMIT $2",
    )
    .bind(after.unwrap_or("").to_owned())
    .bind(limit)
    .fetch_all(&core.db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(User {
                id: r.try_get("id")?,
                email: r.try_get("email")?,
                disabled: r.try_get::<i64, _>("disabled")? != 0,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Users by id (unknown ids are absent from the map).
pub async fn users_by_id(
    core: &Core,
    ctx: &Ctx,
    ids: &[String],
) -> DomainResult<HashMap<String, User>> {
    require_admin_or_self(ctx, ids)?;
    let mut conn = core.db.pool.acquire().await?;
    let rows = rows_in(
        &mut conn,
        "SELECT id, email, disabled FROM users WHERE id IN ({in})",
        ids,
    )
    .await?;
    let mut out = HashMap::new();
    for r in rows {
        let u = User {
            id: r.try_get("id")?,
            email: r.try_get("email")?,
            disabled: r.try_get::<i64, _>("disabled")? != 0,
        };
        out.insert(u.id.clone(), u);
    }
    Ok(out)
}

/// The roles assigned to each user (by name; users without roles map to an empty list).
pub async fn roles_of_users(
    core: &Core,
    ctx: &Ctx,
    user_ids: &[String],
) -> DomainResult<HashMap<String, Vec<String>>> {
    require_admin_or_self(ctx, user_ids)?;
    let mut conn = core.db.pool.acquire().await?;
    let rows = rows_in(
        &mut conn,
        "SELECT user_id, role FROM user_roles WHERE user_id IN ({in}) ORDER BY user_id, role",
        user_ids,
    )
    .await?;
    let mut out: HashMap<String, Vec<String>> =
        user_ids.iter().map(|u| (u.clone(), Vec::new())).collect();
    for r in rows {
        out.entry(r.try_get("user_id")?)
            .or_default()
            .push(r.try_get("role")?);
    }
    Ok(out)
}

/// Role records by name (unknown names are absent).
pub async fn roles_by_name(
    core: &Core,
    ctx: &Ctx,
    names: &[String],
) -> DomainResult<HashMap<String, RoleRecord>> {
    ctx.require(RBAC_ADMIN)?;
    let mut conn = core.db.pool.acquire().await?;
    let rows = rows_in(
        &mut conn,
        "SELECT name, parent, description FROM roles WHERE name IN ({in})",
        names,
    )
    .await?;
    let mut out = HashMap::new();
    for r in rows {
        let rec = RoleRecord {
            name: r.try_get("name")?,
            parent: r.try_get("parent")?,
            description: r.try_get("description")?,
        };
        out.insert(rec.name.clone(), rec);
    }
    Ok(out)
}

/// Every role, by name.
pub async fn all_roles(core: &Core, ctx: &Ctx) -> DomainResult<Vec<RoleRecord>> {
    ctx.require(RBAC_ADMIN)?;
    let rows = sqlx::query("SELECT name, parent, description FROM roles ORDER BY name")
        .fetch_all(&core.db.pool)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(RoleRecord {
                name: r.try_get("name")?,
                parent: r.try_get("parent")?,
                description: r.try_get("description")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// The permissions granted to each role directly (not inherited), by name.
pub async fn permissions_of_roles(
    core: &Core,
    ctx: &Ctx,
    roles: &[String],
) -> DomainResult<HashMap<String, Vec<String>>> {
    ctx.require(RBAC_ADMIN)?;
    let mut conn = core.db.pool.acquire().await?;
    let rows = rows_in(
        &mut conn,
        "SELECT role, permission FROM role_permissions WHERE role IN ({in}) ORDER BY role, permission",
        roles,
    )
    .await?;
    let mut out: HashMap<String, Vec<String>> =
        roles.iter().map(|r| (r.clone(), Vec::new())).collect();
    for r in rows {
        out.entry(r.try_get("role")?)
            .or_default()
            .push(r.try_get("permission")?);
    }
    Ok(out)
}

/// Each user's effective roles (assigned plus every ancestor) and permissions — what their next
/// access token will carry — in three statements whatever the number of users.
pub async fn effective_of_users(
    core: &Core,
    ctx: &Ctx,
    user_ids: &[String],
) -> DomainResult<HashMap<String, Effective>> {
    let assigned = roles_of_users(core, ctx, user_ids).await?;
    let mut conn = core.db.pool.acquire().await?;
    let parents: HashMap<String, Option<String>> = sqlx::query("SELECT name, parent FROM roles")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("name")?, r.try_get("parent")?)))
        .collect::<Result<_, sqlx::Error>>()?;
    let mut effective_roles: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut every_role = BTreeSet::new();
    for (user, roles) in &assigned {
        let set = super::rbac::with_ancestors(roles, &parents);
        every_role.extend(set.iter().cloned());
        effective_roles.insert(user.clone(), set);
    }
    let every_role: Vec<String> = every_role.into_iter().collect();
    let mut grants: HashMap<String, Vec<String>> = HashMap::new();
    if !every_role.is_empty() {
        for r in rows_in(
            &mut conn,
            "SELECT role, permission FROM role_permissions WHERE role IN ({in})",
            &every_role,
        )
        .await?
        {
            grants
                .entry(r.try_get("role")?)
                .or_default()
                .push(r.try_get("permission")?);
        }
    }
    Ok(effective_roles
        .into_iter()
        .map(|(user, roles)| {
            let permissions: BTreeSet<String> = roles
                .iter()
                .flat_map(|r| grants.get(r).into_iter().flatten().cloned())
                .collect();
            (
                user,
                Effective {
                    roles: roles.into_iter().collect(),
                    permissions: permissions.into_iter().collect(),
                },
            )
        })
        .collect())
}

/// Each user's live sessions, newest first (an administrator, or the user about themselves).
pub async fn sessions_of_users(
    core: &Core,
    ctx: &Ctx,
    user_ids: &[String],
) -> DomainResult<HashMap<String, Vec<SessionView>>> {
    require_admin_or_self(ctx, user_ids)?;
    let mut conn = core.db.pool.acquire().await?;
    let now = core.clock.now_ms();
    let mut out: HashMap<String, Vec<SessionView>> =
        user_ids.iter().map(|u| (u.clone(), Vec::new())).collect();
    let uniq: Vec<&String> = user_ids
        .iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for chunk in uniq.chunks(CHUNK) {
        let text = format!(
            "SELECT id, user_id, user_agent, ip, created_at, last_used_at, expires_at FROM sessions \
             WHERE revoked_at IS NULL AND expires_at > $1 AND user_id IN ({}) \
             ORDER BY created_at DESC, id",
            placeholders(2, chunk.len())
        );
        let mut q = sqlx::query(&text).bind(now);
        for k in chunk {
            q = q.bind((*k).clone());
        }
        for r in q.fetch_all(&mut *conn).await? {
            let id: String = r.try_get("id")?;
            let view = SessionView {
                current: Some(id.as_str()) == ctx.session.as_deref(),
                id,
                user_agent: r.try_get("user_agent")?,
                ip: r.try_get("ip")?,
                created_at: r.try_get::<i64, _>("created_at")? / 1000,
                last_used_at: r.try_get::<i64, _>("last_used_at")? / 1000,
                expires_at: r.try_get::<i64, _>("expires_at")? / 1000,
            };
            out.entry(r.try_get("user_id")?).or_default().push(view);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_from_the_given_index() {
        assert_eq!(placeholders(1, 3), "$1, $2, $3");
        assert_eq!(placeholders(2, 1), "$2");
    }

    #[test]
    fn only_admins_or_the_user_alone_may_read_user_relations() {
        let me = Ctx::default()
            .acting("usr_a")
            .with_permissions(["profile:read"]);
        assert!(require_admin_or_self(&me, &["usr_a".into()]).is_ok());
        assert!(require_admin_or_self(&me, &["usr_a".into(), "usr_b".into()]).is_err());
        assert!(require_admin_or_self(&me, &[]).is_err());
        assert!(require_admin_or_self(&Ctx::default(), &["usr_a".into()]).is_err());
        let admin = Ctx::default()
            .acting("usr_x")
            .with_permissions([RBAC_ADMIN]);
        assert!(require_admin_or_self(&admin, &["usr_a".into(), "usr_b".into()]).is_ok());
    }
}

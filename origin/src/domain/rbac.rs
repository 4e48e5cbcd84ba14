//! Roles and permissions: a role inherits its parent's permissions (cycles refused), static
//! separation of duty refuses assigning both roles of an exclusive pair, the seeded roles are
//! protected, and a user's effective roles/permissions are flattened into the access token.
//!
//! Every operation needs `rbac:admin` (or the CLI operator). Every change is one operation
//! (one [`Work`]): it checks the invariants, makes the change,
//! writes its audit entry and voids the access tokens whose roles or permissions it changed — a
//! change to a role's permissions or ancestry voids the tokens of every holder (direct or
//! through a descendant role) — and commits.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use serde_json::json;
use sqlx::{AnyConnection, Row};

use super::ctx::{Ctx, RBAC_ADMIN};
use super::error::{DomainError, DomainResult, What};
use super::users::{self, User};
use super::work::Work;
use super::Core;
use crate::db::is_unique_violation;

pub const SEEDED_ROLES: [&str; 2] = ["admin", "user"];

/// Role and permission names: lowercase, digits, `:_.-`, 1–64 characters.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b":_.-".contains(&b))
        && s.as_bytes()[0].is_ascii_alphanumeric()
}

async fn parents(conn: &mut AnyConnection) -> Result<HashMap<String, Option<String>>, sqlx::Error> {
    let rows = sqlx::query("SELECT name, parent FROM roles")
        .fetch_all(conn)
        .await?;
    rows.into_iter()
        .map(|r| Ok((r.try_get("name")?, r.try_get("parent")?)))
        .collect()
}

/// `roles` plus every ancestor (bounded walk: stored data is acyclic, but never loop forever).
pub(crate) fn with_ancestors(
    roles: &[String],
    parents: &HashMap<String, Option<String>>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for r in roles {
        let mut cur = Some(r.clone());
        let mut steps = 0;
        while let Some(c) = cur {
            if !out.insert(c.clone()) || steps > 64 {
                break;
            }
            steps += 1;
            cur = parents.get(&c).cloned().flatten();
        }
    }
    out
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Effective {
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
}

pub async fn assigned_roles(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
        .bind(user_id)
        .fetch_all(conn)
        .await
}

pub async fn effective(conn: &mut AnyConnection, user_id: &str) -> Result<Effective, sqlx::Error> {
    let assigned = assigned_roles(&mut *conn, user_id).await?;
    if assigned.is_empty() {
        return Ok(Effective::default());
    }
    let parents = parents(&mut *conn).await?;
    let roles = with_ancestors(&assigned, &parents);
    let rows = sqlx::query("SELECT role, permission FROM role_permissions")
        .fetch_all(&mut *conn)
        .await?;
    let mut perms = BTreeSet::new();
    for r in rows {
        let role: String = r.try_get("role")?;
        if roles.contains(&role) {
            perms.insert(r.try_get::<String, _>("permission")?);
        }
    }
    Ok(Effective {
        roles: roles.into_iter().collect(),
        permissions: perms.into_iter().collect(),
    })
}

async fn role_exists(conn: &mut AnyConnection, name: &str) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM roles WHERE name = $1")
            .bind(name)
            .fetch_one(conn)
            .await?
            > 0,
    )
}

/// Would making `parent` the parent of `role` create a cycle?
pub async fn would_cycle(
    conn: &mut AnyConnection,
    role: &str,
    parent: &str,
) -> Result<bool, sqlx::Error> {
    if role == parent {
        return Ok(true);
    }
    let parents = parents(conn).await?;
    let mut cur = Some(parent.to_owned());
    let mut steps = 0;
    while let Some(c) = cur {
        if c == role {
            return Ok(true);
        }
        steps += 1;
        if steps > parents.len() + 1 {
            return Ok(true);
        }
        cur = parents.get(&c).cloned().flatten();
    }
    Ok(false)
}

/// Users holding `role` directly or through a descendant role (their tokens change when it does).
pub async fn users_affected_by_role(
    conn: &mut AnyConnection,
    role: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let parents = parents(&mut *conn).await?;
    let rows = sqlx::query("SELECT user_id, role FROM user_roles")
        .fetch_all(conn)
        .await?;
    let mut users = BTreeSet::new();
    for r in rows {
        let held: String = r.try_get("role")?;
        if with_ancestors(&[held], &parents).contains(role) {
            users.insert(r.try_get::<String, _>("user_id")?);
        }
    }
    Ok(users.into_iter().collect())
}

async fn permission_exists(conn: &mut AnyConnection, name: &str) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM permissions WHERE name = $1")
            .bind(name)
            .fetch_one(conn)
            .await?
            > 0,
    )
}

/// Voids the access tokens of every user whose effective permissions depend on `role`: the
/// rule behind every change to a role's permissions or ancestry.
async fn void_role_holders(w: &mut Work<'_>, role: &str) -> DomainResult<usize> {
    let holders = users_affected_by_role(w.conn(), role).await?;
    for u in &holders {
        w.void_user_tokens(u).await?;
    }
    Ok(holders.len())
}

/// A new role, optionally under an existing parent (a new role has no holders: nothing to void).
pub async fn create_role(
    core: &Core,
    ctx: &Ctx,
    name: &str,
    parent: Option<&str>,
    description: &str,
) -> DomainResult<()> {
    ctx.require(RBAC_ADMIN)?;
    if !valid_name(name) {
        return Err(DomainError::InvalidName(What::Role));
    }
    let mut w = Work::begin(core, ctx).await?;
    if let Some(p) = parent {
        if !role_exists(w.conn(), p).await? {
            return Err(DomainError::ParentRoleNotFound);
        }
    }
    let r = sqlx::query(
        "INSERT INTO roles (name, parent, description, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(name)
    .bind(parent.map(str::to_owned))
    .bind(description)
    .bind(w.now)
    .execute(w.conn())
    .await;
    match r {
        Err(e) if is_unique_violation(&e) => return Err(DomainError::AlreadyExists(What::Role)),
        r => r?,
    };
    w.audit("role.create", Some(name), json!({ "parent": parent }))
        .await?;
    w.commit().await
}

/// Moves a role under another parent (or to the top). Refuses a cycle; voids the tokens of
/// every holder, whose inherited permissions change.
pub async fn set_parent(
    core: &Core,
    ctx: &Ctx,
    name: &str,
    parent: Option<&str>,
) -> DomainResult<()> {
    ctx.require(RBAC_ADMIN)?;
    let mut w = Work::begin(core, ctx).await?;
    if !role_exists(w.conn(), name).await? {
        return Err(DomainError::NotFound(What::Role));
    }
    if let Some(p) = parent {
        if !role_exists(w.conn(), p).await? {
            return Err(DomainError::ParentRoleNotFound);
        }
        if would_cycle(w.conn(), name, p).await? {
            return Err(DomainError::RoleCycle);
        }
    }
    sqlx::query("UPDATE roles SET parent = $1 WHERE name = $2")
        .bind(parent.map(str::to_owned))
        .bind(name)
        .execute(w.conn())
        .await?;
    w.audit("role.set_parent", Some(name), json!({ "parent": parent }))
        .await?;
    void_role_holders(&mut w, name).await?;
    w.commit().await
}

/// Deletes a role with its assignments, grants, exclusive pairs and child links. The seeded
/// roles are protected. Everyone who held it (directly or through a child) has their tokens
/// voided.
pub async fn delete_role(core: &Core, ctx: &Ctx, name: &str) -> DomainResult<()> {
    ctx.require(RBAC_ADMIN)?;
    if SEEDED_ROLES.contains(&name) {
        return Err(DomainError::RoleProtected);
    }
    let mut w = Work::begin(core, ctx).await?;
    // Computed before the role and its links go.
    let affected = users_affected_by_role(w.conn(), name).await?;
    // Explicit deletes (cascades are not relied upon across backends).
    for sql in [
        "DELETE FROM user_roles WHERE role = $1",
        "DELETE FROM role_permissions WHERE role = $1",
        "DELETE FROM sod_constraints WHERE role_a = $1 OR role_b = $1",
        "UPDATE roles SET parent = NULL WHERE parent = $1",
    ] {
        sqlx::query(sql).bind(name).execute(w.conn()).await?;
    }
    let n = sqlx::query("DELETE FROM roles WHERE name = $1")
        .bind(name)
        .execute(w.conn())
        .await?
        .rows_affected();
    if n == 0 {
        return Err(DomainError::NotFound(What::Role));
    }
    w.audit("role.delete", Some(name), json!({})).await?;
    for u in affected {
        w.void_user_tokens(&u).await?;
    }
    w.commit().await
}

pub async fn create_permission(
    core: &Core,
    ctx: &Ctx,
    name: &str,
    description: &str,
) -> DomainResult<()> {
    ctx.require(RBAC_ADMIN)?;
    if !valid_name(name) {
        return Err(DomainError::InvalidName(What::Permission));
    }
    let mut w = Work::begin(core, ctx).await?;
    let r =
        sqlx::query("INSERT INTO permissions (name, description, created_at) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(description)
            .bind(w.now)
            .execute(w.conn())
            .await;
    match r {
        Err(e) if is_unique_violation(&e) => {
            return Err(DomainError::AlreadyExists(What::Permission))
        }
        r => r?,
    };
    w.audit("permission.create", Some(name), json!({})).await?;
    w.commit().await
}

/// Grants `permission` to `role`; its holders' tokens are voided. Granting what the role
/// already has changes nothing (no audit, no revocation). Returns whether it changed.
pub async fn grant_permission(
    core: &Core,
    ctx: &Ctx,
    role: &str,
    permission: &str,
) -> DomainResult<bool> {
    ctx.require(RBAC_ADMIN)?;
    // Who holds which power changes only on a recent authentication (defence in depth
    // behind the edge's `require_fresh_auth` on these routes).
    super::freshness::require_fresh_person(core, ctx).await?;
    let mut w = Work::begin(core, ctx).await?;
    if !role_exists(w.conn(), role).await? {
        return Err(DomainError::NotFound(What::Role));
    }
    if !permission_exists(w.conn(), permission).await? {
        return Err(DomainError::NotFound(What::Permission));
    }
    let n = sqlx::query(
        "INSERT INTO role_permissions (role, permission) VALUES ($1, $2) ON CONFLICT (role, permission) DO NOTHING",
    )
    .bind(role)
    .bind(permission)
    .execute(w.conn())
    .await?
    .rows_affected();
    permission_changed(w, n, "permission.grant", role, permission).await
}

/// The end of a change to a role's permissions (`rows` it touched): audited, and every holder's
/// tokens voided, in the same transaction; nothing at all when it changed nothing.
async fn permission_changed(
    mut w: Work<'_>,
    rows: u64,
    action: &str,
    role: &str,
    permission: &str,
) -> DomainResult<bool> {
    if rows == 0 {
        return Ok(false);
    }
    w.audit(action, Some(role), json!({ "permission": permission }))
        .await?;
    void_role_holders(&mut w, role).await?;
    w.commit().await?;
    Ok(true)
}

/// Takes `permission` from `role`; its holders' tokens are voided. Returns whether it changed.
pub async fn revoke_permission(
    core: &Core,
    ctx: &Ctx,
    role: &str,
    permission: &str,
) -> DomainResult<bool> {
    ctx.require(RBAC_ADMIN)?;
    // Who holds which power changes only on a recent authentication (defence in depth
    // behind the edge's `require_fresh_auth` on these routes).
    super::freshness::require_fresh_person(core, ctx).await?;
    let mut w = Work::begin(core, ctx).await?;
    let n = sqlx::query("DELETE FROM role_permissions WHERE role = $1 AND permission = $2")
        .bind(role)
        .bind(permission)
        .execute(w.conn())
        .await?
        .rows_affected();
    permission_changed(w, n, "permission.revoke", role, permission).await
}

/// Assigns `role` to `user_id`, refusing a separation-of-duty conflict (checked on the
/// effective roles, so an inherited role counts). The user's tokens are voided (they carry the
/// old roles). Returns false, changing nothing, if already assigned.
pub async fn grant_role(core: &Core, ctx: &Ctx, user_id: &str, role: &str) -> DomainResult<bool> {
    ctx.require(RBAC_ADMIN)?;
    // Who holds which power changes only on a recent authentication (defence in depth
    // behind the edge's `require_fresh_auth` on these routes).
    super::freshness::require_fresh_person(core, ctx).await?;
    let mut w = Work::begin(core, ctx).await?;
    if !role_exists(w.conn(), role).await? {
        return Err(DomainError::NotFound(What::Role));
    }
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(w.conn())
        .await?;
    if n == 0 {
        return Err(DomainError::NotFound(What::User));
    }
    let mut held = assigned_roles(w.conn(), user_id).await?;
    if held.iter().any(|r| r == role) {
        return Ok(false);
    }
    held.push(role.to_owned());
    let parents = parents(w.conn()).await?;
    let eff = with_ancestors(&held, &parents);
    for (a, b) in sod_pairs_in(w.conn()).await? {
        if eff.contains(&a) && eff.contains(&b) {
            return Err(DomainError::SeparationOfDuty { a, b });
        }
    }
    sqlx::query("INSERT INTO user_roles (user_id, role, created_at) VALUES ($1, $2, $3)")
        .bind(user_id)
        .bind(role)
        .bind(w.now)
        .execute(w.conn())
        .await?;
    w.audit("role.assign", Some(user_id), json!({ "role": role }))
        .await?;
    w.void_user_tokens(user_id).await?;
    w.commit().await?;
    Ok(true)
}

/// Takes `role` from `user_id`; the user's tokens are voided. Returns whether it changed.
pub async fn revoke_role(core: &Core, ctx: &Ctx, user_id: &str, role: &str) -> DomainResult<bool> {
    ctx.require(RBAC_ADMIN)?;
    // Who holds which power changes only on a recent authentication (defence in depth
    // behind the edge's `require_fresh_auth` on these routes).
    super::freshness::require_fresh_person(core, ctx).await?;
    let mut w = Work::begin(core, ctx).await?;
    let n = sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND role = $2")
        .bind(user_id)
        .bind(role)
        .execute(w.conn())
        .await?
        .rows_affected();
    if n == 0 {
        return Ok(false);
    }
    w.audit("role.unassign", Some(user_id), json!({ "role": role }))
        .await?;
    w.void_user_tokens(user_id).await?;
    w.commit().await?;
    Ok(true)
}

fn ordered<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    if a < b {
        (a, b)
    } else {
        (b, a)
    }
}

/// Makes two roles mutually exclusive from now on (existing holders of both are not touched:
/// static separation of duty is checked at assignment).
pub async fn add_sod(core: &Core, ctx: &Ctx, a: &str, b: &str) -> DomainResult<()> {
    ctx.require(RBAC_ADMIN)?;
    if a == b {
        return Err(DomainError::SodSameRole);
    }
    let mut w = Work::begin(core, ctx).await?;
    for r in [a, b] {
        if !role_exists(w.conn(), r).await? {
            return Err(DomainError::NotFound(What::Role));
        }
    }
    let (x, y) = ordered(a, b);
    sqlx::query("INSERT INTO sod_constraints (role_a, role_b) VALUES ($1, $2) ON CONFLICT (role_a, role_b) DO NOTHING")
        .bind(x)
        .bind(y)
        .execute(w.conn())
        .await?;
    w.audit("sod.add", None, json!({ "roles": [a, b] })).await?;
    w.commit().await
}

pub async fn remove_sod(core: &Core, ctx: &Ctx, a: &str, b: &str) -> DomainResult<()> {
    ctx.require(RBAC_ADMIN)?;
    let (x, y) = ordered(a, b);
    let mut w = Work::begin(core, ctx).await?;
    let n = sqlx::query("DELETE FROM sod_constraints WHERE role_a = $1 AND role_b = $2")
        .bind(x)
        .bind(y)
        .execute(w.conn())
        .await?
        .rows_affected();
    if n == 0 {
        return Err(DomainError::NotFound(What::SodPair));
    }
    w.audit("sod.remove", None, json!({ "roles": [a, b] }))
        .await?;
    w.commit().await
}

async fn sod_pairs_in(conn: &mut AnyConnection) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::query("SELECT role_a, role_b FROM sod_constraints ORDER BY role_a, role_b")
        .fetch_all(conn)
        .await?;
    rows.into_iter()
        .map(|r| Ok((r.try_get("role_a")?, r.try_get("role_b")?)))
        .collect()
}

/// The exclusive pairs, each ordered by name.
pub async fn sod_pairs(core: &Core, ctx: &Ctx) -> DomainResult<Vec<(String, String)>> {
    ctx.require(RBAC_ADMIN)?;
    let mut conn = core.db.pool.acquire().await?;
    Ok(sod_pairs_in(&mut conn).await?)
}

/// A user as the admin API shows it: the record, the roles assigned, the effective set.
#[derive(Debug, Serialize)]
pub struct UserRoles {
    pub user: User,
    pub assigned_roles: Vec<String>,
    pub effective: Effective,
}

pub async fn user_roles(core: &Core, ctx: &Ctx, user_id: &str) -> DomainResult<UserRoles> {
    ctx.require(RBAC_ADMIN)?;
    let user = users::by_id(core, user_id)
        .await?
        .ok_or(DomainError::NotFound(What::User))?;
    let mut conn = core.db.pool.acquire().await?;
    let assigned_roles = assigned_roles(&mut conn, user_id).await?;
    let effective = effective(&mut conn, user_id).await?;
    Ok(UserRoles {
        user,
        assigned_roles,
        effective,
    })
}

#[derive(Debug, Serialize)]
pub struct RoleView {
    pub name: String,
    pub parent: Option<String>,
    pub description: String,
    pub permissions: Vec<String>,
}

pub async fn list_roles(core: &Core, ctx: &Ctx) -> DomainResult<Vec<RoleView>> {
    ctx.require(RBAC_ADMIN)?;
    let mut conn = core.db.pool.acquire().await?;
    let rows = sqlx::query("SELECT name, parent, description FROM roles ORDER BY name")
        .fetch_all(&mut *conn)
        .await?;
    let rp = sqlx::query("SELECT role, permission FROM role_permissions ORDER BY permission")
        .fetch_all(&mut *conn)
        .await?;
    let mut perms: HashMap<String, Vec<String>> = HashMap::new();
    for r in rp {
        perms
            .entry(r.try_get("role")?)
            .or_default()
            .push(r.try_get("permission")?);
    }
    let roles = rows
        .into_iter()
        .map(|r| {
            let name: String = r.try_get("name")?;
            Ok(RoleView {
                permissions: perms.remove(&name).unwrap_or_default(),
                name,
                parent: r.try_get("parent")?,
                description: r.try_get("description")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(roles)
}

/// Every permission as (name, description), by name.
pub async fn list_permissions(core: &Core, ctx: &Ctx) -> DomainResult<Vec<(String, String)>> {
    ctx.require(RBAC_ADMIN)?;
    let rows = sqlx::query("SELECT name, description FROM permissions ORDER BY name")
        .fetch_all(&core.db.pool)
        .await?;
    let perms = rows
        .into_iter()
        .map(|r| Ok((r.try_get("name")?, r.try_get("description")?)))
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(perms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["admin", "rbac:admin", "billing.read", "a-b_c", "9lives"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "Admin", ":x", "a b", "x'; drop", &"a".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn ancestors_are_flattened_and_cycles_terminate() {
        let mut p = HashMap::new();
        p.insert("admin".to_string(), Some("user".to_string()));
        p.insert("user".to_string(), None);
        p.insert("a".to_string(), Some("b".to_string()));
        p.insert("b".to_string(), Some("a".to_string()));
        assert_eq!(
            with_ancestors(&["admin".into()], &p)
                .into_iter()
                .collect::<Vec<_>>(),
            ["admin", "user"]
        );
        assert_eq!(with_ancestors(&["a".into()], &p).len(), 2);
    }
}

//! Roles and permissions: a role inherits its parent's permissions (cycles refused), static
//! separation of duty refuses assigning both roles of an exclusive pair, and a user's effective
//! roles/permissions are flattened into the access token.

use std::collections::{BTreeSet, HashMap};

use axum::http::StatusCode;
use serde::Serialize;
use sqlx::{AnyConnection, Row};

use crate::error::{AppError, AppResult, Problem};

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
fn with_ancestors(roles: &[String], parents: &HashMap<String, Option<String>>) -> BTreeSet<String> {
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

fn problem(status: StatusCode, id: &'static str) -> AppError {
    Problem::new(status, id).into()
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

pub async fn create_role(
    conn: &mut AnyConnection,
    name: &str,
    parent: Option<&str>,
    description: &str,
    now: i64,
) -> AppResult<()> {
    if !valid_name(name) {
        return Err(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_role_name",
        ));
    }
    if let Some(p) = parent {
        if !role_exists(&mut *conn, p).await? {
            return Err(problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "parent_role_not_found",
            ));
        }
    }
    let r = sqlx::query(
        "INSERT INTO roles (name, parent, description, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(name)
    .bind(parent.map(str::to_owned))
    .bind(description)
    .bind(now)
    .execute(conn)
    .await;
    match r {
        Err(e) if crate::error::is_unique_violation(&e) => {
            Err(problem(StatusCode::CONFLICT, "role_exists"))
        }
        r => r.map(|_| ()).map_err(Into::into),
    }
}

pub async fn set_parent(
    conn: &mut AnyConnection,
    name: &str,
    parent: Option<&str>,
) -> AppResult<()> {
    if !role_exists(&mut *conn, name).await? {
        return Err(problem(StatusCode::NOT_FOUND, "role_not_found"));
    }
    if let Some(p) = parent {
        if !role_exists(&mut *conn, p).await? {
            return Err(problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "parent_role_not_found",
            ));
        }
        if would_cycle(&mut *conn, name, p).await? {
            return Err(problem(StatusCode::CONFLICT, "role_cycle"));
        }
    }
    sqlx::query("UPDATE roles SET parent = $1 WHERE name = $2")
        .bind(parent.map(str::to_owned))
        .bind(name)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete_role(conn: &mut AnyConnection, name: &str) -> AppResult<Vec<String>> {
    if SEEDED_ROLES.contains(&name) {
        return Err(problem(StatusCode::CONFLICT, "role_protected"));
    }
    let holders: Vec<String> = sqlx::query_scalar("SELECT user_id FROM user_roles WHERE role = $1")
        .bind(name)
        .fetch_all(&mut *conn)
        .await?;
    // Explicit deletes (cascades are not relied upon across backends).
    sqlx::query("DELETE FROM user_roles WHERE role = $1")
        .bind(name)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM role_permissions WHERE role = $1")
        .bind(name)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM sod_constraints WHERE role_a = $1 OR role_b = $1")
        .bind(name)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE roles SET parent = NULL WHERE parent = $1")
        .bind(name)
        .execute(&mut *conn)
        .await?;
    let n = sqlx::query("DELETE FROM roles WHERE name = $1")
        .bind(name)
        .execute(conn)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(problem(StatusCode::NOT_FOUND, "role_not_found"));
    }
    Ok(holders)
}

pub async fn create_permission(
    conn: &mut AnyConnection,
    name: &str,
    description: &str,
    now: i64,
) -> AppResult<()> {
    if !valid_name(name) {
        return Err(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_permission_name",
        ));
    }
    let r =
        sqlx::query("INSERT INTO permissions (name, description, created_at) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(description)
            .bind(now)
            .execute(conn)
            .await;
    match r {
        Err(e) if crate::error::is_unique_violation(&e) => {
            Err(problem(StatusCode::CONFLICT, "permission_exists"))
        }
        r => r.map(|_| ()).map_err(Into::into),
    }
}

pub async fn grant(conn: &mut AnyConnection, role: &str, permission: &str) -> AppResult<bool> {
    if !role_exists(&mut *conn, role).await? {
        return Err(problem(StatusCode::NOT_FOUND, "role_not_found"));
    }
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM permissions WHERE name = $1")
        .bind(permission)
        .fetch_one(&mut *conn)
        .await?;
    if n == 0 {
        return Err(problem(StatusCode::NOT_FOUND, "permission_not_found"));
    }
    let n = sqlx::query(
        "INSERT INTO role_permissions (role, permission) VALUES ($1, $2) ON CONFLICT (role, permission) DO NOTHING",
    )
    .bind(role)
    .bind(permission)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n > 0)
}

pub async fn revoke(conn: &mut AnyConnection, role: &str, permission: &str) -> AppResult<bool> {
    let n = sqlx::query("DELETE FROM role_permissions WHERE role = $1 AND permission = $2")
        .bind(role)
        .bind(permission)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n > 0)
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

fn ordered<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    if a < b {
        (a, b)
    } else {
        (b, a)
    }
}

pub async fn add_sod(conn: &mut AnyConnection, a: &str, b: &str) -> AppResult<()> {
    if a == b {
        return Err(problem(StatusCode::UNPROCESSABLE_ENTITY, "sod_same_role"));
    }
    for r in [a, b] {
        if !role_exists(&mut *conn, r).await? {
            return Err(problem(StatusCode::NOT_FOUND, "role_not_found"));
        }
    }
    let (x, y) = ordered(a, b);
    sqlx::query("INSERT INTO sod_constraints (role_a, role_b) VALUES ($1, $2) ON CONFLICT (role_a, role_b) DO NOTHING")
        .bind(x)
        .bind(y)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn remove_sod(conn: &mut AnyConnection, a: &str, b: &str) -> AppResult<bool> {
    let (x, y) = ordered(a, b);
    Ok(
        sqlx::query("DELETE FROM sod_constraints WHERE role_a = $1 AND role_b = $2")
            .bind(x)
            .bind(y)
            .execute(conn)
            .await?
            .rows_affected()
            > 0,
    )
}

pub async fn sod_pairs(conn: &mut AnyConnection) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::query("SELECT role_a, role_b FROM sod_constraints ORDER BY role_a, role_b")
        .fetch_all(conn)
        .await?;
    rows.into_iter()
        .map(|r| Ok((r.try_get("role_a")?, r.try_get("role_b")?)))
        .collect()
}

/// Assigns `role` to `user_id`, refusing a separation-of-duty conflict (checked on the
/// effective roles, so an inherited role counts). Returns false if already assigned.
pub async fn assign(
    conn: &mut AnyConnection,
    user_id: &str,
    role: &str,
    now: i64,
) -> AppResult<bool> {
    if !role_exists(&mut *conn, role).await? {
        return Err(problem(StatusCode::NOT_FOUND, "role_not_found"));
    }
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await?;
    if n == 0 {
        return Err(problem(StatusCode::NOT_FOUND, "user_not_found"));
    }
    let mut held = assigned_roles(&mut *conn, user_id).await?;
    if held.iter().any(|r| r == role) {
        return Ok(false);
    }
    held.push(role.to_owned());
    let parents = parents(&mut *conn).await?;
    let eff = with_ancestors(&held, &parents);
    for (a, b) in sod_pairs(&mut *conn).await? {
        if eff.contains(&a) && eff.contains(&b) {
            return Err(Problem::new(StatusCode::CONFLICT, "separation_of_duty")
                .detail(format!("roles {a} and {b} are mutually exclusive"))
                .into());
        }
    }
    sqlx::query("INSERT INTO user_roles (user_id, role, created_at) VALUES ($1, $2, $3)")
        .bind(user_id)
        .bind(role)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(true)
}

pub async fn unassign(conn: &mut AnyConnection, user_id: &str, role: &str) -> AppResult<bool> {
    Ok(
        sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND role = $2")
            .bind(user_id)
            .bind(role)
            .execute(conn)
            .await?
            .rows_affected()
            > 0,
    )
}

#[derive(Debug, Serialize)]
pub struct RoleView {
    pub name: String,
    pub parent: Option<String>,
    pub description: String,
    pub permissions: Vec<String>,
}

pub async fn list_roles(conn: &mut AnyConnection) -> Result<Vec<RoleView>, sqlx::Error> {
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
    rows.into_iter()
        .map(|r| {
            let name: String = r.try_get("name")?;
            Ok(RoleView {
                permissions: perms.remove(&name).unwrap_or_default(),
                name,
                parent: r.try_get("parent")?,
                description: r.try_get("description")?,
            })
        })
        .collect()
}

pub async fn list_permissions(
    conn: &mut AnyConnection,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::query("SELECT name, description FROM permissions ORDER BY name")
        .fetch_all(conn)
        .await?;
    rows.into_iter()
        .map(|r| Ok((r.try_get("name")?, r.try_get("description")?)))
        .collect()
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

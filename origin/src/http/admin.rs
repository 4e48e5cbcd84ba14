//! The admin API (`rbac:admin` required): roles, permissions, assignments, separation of
//! duty, user disable/enable, key rotation, the audit log. Every change is one transaction
//! with its audit row and, when tokens change meaning, revocation-feed marks.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::envelope::AuthUser;
use super::extract::{ApiJson, ApiQuery, RequestCtx};
use super::AppState;
use crate::db::Tx;
use crate::domain::audit::{self, Ctx};
use crate::domain::{accounts, rbac, revocations};
use crate::error::{bad_request, internal, not_found, AppResult};

const ADMIN: &str = "rbac:admin";

/// The admin caller and an audit context naming them.
struct Admin {
    ctx: Ctx,
}

fn admin(user: &AuthUser, RequestCtx(ctx): RequestCtx) -> AppResult<Admin> {
    user.require(ADMIN)?;
    Ok(Admin {
        ctx: Ctx {
            actor: Some(user.user_id.clone()),
            ..ctx
        },
    })
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Voids the access tokens of every user whose effective permissions depend on `role`.
async fn void_role_holders(state: &AppState, tx: &mut Tx, role: &str) -> AppResult<()> {
    let now = state.clock.now_ms();
    for u in rbac::users_affected_by_role(&mut *tx, role).await? {
        revocations::user_tokens_void(&mut *tx, &u, now, state.access_ttl_ms()).await?;
    }
    Ok(())
}

pub async fn list_roles(
    State(state): State<AppState>,
    user: AuthUser,
) -> AppResult<Json<serde_json::Value>> {
    user.require(ADMIN)?;
    let mut conn = state.db.pool.acquire().await?;
    let roles = rbac::list_roles(&mut conn).await?;
    Ok(Json(json!({ "roles": roles })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRole {
    name: String,
    parent: Option<String>,
    #[serde(default)]
    description: String,
}

pub async fn create_role(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    ApiJson(b): ApiJson<NewRole>,
) -> AppResult<Response> {
    let a = admin(&user, rc)?;
    let now = state.clock.now_ms();
    let mut tx = state.db.begin().await?;
    rbac::create_role(&mut tx, &b.name, b.parent.as_deref(), &b.description, now).await?;
    audit::record(
        &mut tx,
        now,
        &a.ctx,
        "role.create",
        Some(&b.name),
        json!({ "parent": b.parent }),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "name": b.name, "parent": b.parent, "description": b.description })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParentBody {
    parent: Option<String>,
}

pub async fn set_parent(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path(name): Path<String>,
    ApiJson(b): ApiJson<ParentBody>,
) -> AppResult<Response> {
    let a = admin(&user, rc)?;
    let now = state.clock.now_ms();
    let mut tx = state.db.begin().await?;
    rbac::set_parent(&mut tx, &name, b.parent.as_deref()).await?;
    void_role_holders(&state, &mut tx, &name).await?;
    audit::record(
        &mut tx,
        now,
        &a.ctx,
        "role.set_parent",
        Some(&name),
        json!({ "parent": b.parent }),
    )
    .await?;
    tx.commit().await?;
    Ok(no_content())
}

pub async fn delete_role(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path(name): Path<String>,
) -> AppResult<Response> {
    let a = admin(&user, rc)?;
    let now = state.clock.now_ms();
    let mut tx = state.db.begin().await?;
    let affected = rbac::users_affected_by_role(&mut tx, &name).await?;
    rbac::delete_role(&mut tx, &name).await?;
    for u in affected {
        revocations::user_tokens_void(&mut tx, &u, now, state.access_ttl_ms()).await?;
    }
    audit::record(&mut tx, now, &a.ctx, "role.delete", Some(&name), json!({})).await?;
    tx.commit().await?;
    Ok(no_content())
}

pub async fn list_permissions(
    State(state): State<AppState>,
    user: AuthUser,
) -> AppResult<Json<serde_json::Value>> {
    user.require(ADMIN)?;
    let mut conn = state.db.pool.acquire().await?;
    let perms: Vec<_> = rbac::list_permissions(&mut conn)
        .await?
        .into_iter()
        .map(|(name, description)| json!({ "name": name, "description": description }))
        .collect();
    Ok(Json(json!({ "permissions": perms })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPermission {
    name: String,
    #[serde(default)]
    description: String,
}

pub async fn create_permission(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    ApiJson(b): ApiJson<NewPermission>,
) -> AppResult<Response> {
    let a = admin(&user, rc)?;
    let now = state.clock.now_ms();
    let mut tx = state.db.begin().await?;
    rbac::create_permission(&mut tx, &b.name, &b.description, now).await?;
    audit::record(
        &mut tx,
        now,
        &a.ctx,
        "permission.create",
        Some(&b.name),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "name": b.name, "description": b.description })),
    )
        .into_response())
}

pub async fn grant(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path((role, perm)): Path<(String, String)>,
) -> AppResult<Response> {
    let a = admin(&user, rc)?;
    let now = state.clock.now_ms();
    let mut tx = state.db.begin().await?;
    if rbac::grant(&mut tx, &role, &perm).await? {
        void_role_holders(&state, &mut tx, &role).await?;
        audit::record(
            &mut tx,
            now,
            &a.ctx,
            "permission.grant",
            Some(&role),
            json!({ "permission": perm }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(no_content())
}

pub async fn revoke(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path((role, perm)): Path<(String, String)>,
) -> AppResult<Response> {
    let a = admin(&user, rc)?;
    let now = state.clock.now_ms();
    let mut tx = state.db.begin().await?;
    if rbac::revoke(&mut tx, &role, &perm).await? {
        void_role_holders(&state, &mut tx, &role).await?;
        audit::record(
            &mut tx,
            now,
            &a.ctx,
            "permission.revoke",
            Some(&role),
            json!({ "permission": perm }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(no_content())
}

pub async fn get_user(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> AppResult<Json<serde_json::Value>> {
    user.require(ADMIN)?;
    let u = accounts::by_id(&state, &id)
        .await?
        .ok_or_else(|| not_found("user_not_found"))?;
    let mut conn = state.db.pool.acquire().await?;
    let assigned = rbac::assigned_roles(&mut conn, &id).await?;
    let eff = rbac::effective(&mut conn, &id).await?;
    Ok(Json(
        json!({ "user": u, "assigned_roles": assigned, "effective": eff }),
    ))
}

pub async fn assign(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path((id, role)): Path<(String, String)>,
) -> AppResult<Response> {
    let a = admin(&user, rc)?;
    let now = state.clock.now_ms();
    let mut tx = state.db.begin().await?;
    if rbac::assign(&mut tx, &id, &role, now).await? {
        revocations::user_tokens_void(&mut tx, &id, now, state.access_ttl_ms()).await?;
        audit::record(
            &mut tx,
            now,
            &a.ctx,
            "role.assign",
            Some(&id),
            json!({ "role": role }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(no_content())
}

pub async fn unassign(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path((id, role)): Path<(String, String)>,
) -> AppResult<Response> {
    let a = admin(&user, rc)?;
    let now = state.clock.now_ms();
    let mut tx = state.db.begin().await?;
    if rbac::unassign(&mut tx, &id, &role).await? {
        revocations::user_tokens_void(&mut tx, &id, now, state.access_ttl_ms()).await?;
        audit::record(
            &mut tx,
            now,
            &a.ctx,
            "role.unassign",
            Some(&id),
            json!({ "role": role }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(no_content())
}

pub async fn disable(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let a = admin(&user, rc)?;
    accounts::set_disabled(&state, &id, true, &a.ctx).await?;
    Ok(no_content())
}

pub async fn enable(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let a = admin(&user, rc)?;
    accounts::set_disabled(&state, &id, false, &a.ctx).await?;
    Ok(no_content())
}

pub async fn list_sod(
    State(state): State<AppState>,
    user: AuthUser,
) -> AppResult<Json<serde_json::Value>> {
    user.require(ADMIN)?;
    let mut conn = state.db.pool.acquire().await?;
    let pairs: Vec<_> = rbac::sod_pairs(&mut conn)
        .await?
        .into_iter()
        .map(|(a, b)| json!([a, b]))
        .collect();
    Ok(Json(json!({ "exclusive_pairs": pairs })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SodBody {
    roles: [String; 2],
}

pub async fn add_sod(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    ApiJson(b): ApiJson<SodBody>,
) -> AppResult<Response> {
    let a = admin(&user, rc)?;
    let now = state.clock.now_ms();
    let mut tx = state.db.begin().await?;
    rbac::add_sod(&mut tx, &b.roles[0], &b.roles[1]).await?;
    audit::record(
        &mut tx,
        now,
        &a.ctx,
        "sod.add",
        None,
        json!({ "roles": b.roles }),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(json!({ "roles": b.roles }))).into_response())
}

pub async fn remove_sod(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path((x, y)): Path<(String, String)>,
) -> AppResult<Response> {
    let a = admin(&user, rc)?;
    let now = state.clock.now_ms();
    let mut tx = state.db.begin().await?;
    if !rbac::remove_sod(&mut tx, &x, &y).await? {
        return Err(not_found("sod_pair_not_found"));
    }
    audit::record(
        &mut tx,
        now,
        &a.ctx,
        "sod.remove",
        None,
        json!({ "roles": [x, y] }),
    )
    .await?;
    tx.commit().await?;
    Ok(no_content())
}

pub async fn rotate_keys(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
) -> AppResult<Json<serde_json::Value>> {
    let a = admin(&user, rc)?;
    let (kid, retired) = rotate(&state, &a.ctx).await?;
    Ok(Json(json!({ "kid": kid, "retired": retired })))
}

/// Shared by the admin route and the `rotate-keys` CLI.
pub async fn rotate(state: &crate::domain::Core, ctx: &Ctx) -> AppResult<(String, Vec<String>)> {
    let now = state.clock.now_ms();
    let mut tx = state.db.begin().await?;
    let (kid, retired) = state
        .keys
        .rotate(&mut tx, state.config.signing_alg, now)
        .await
        .map_err(|e| internal(e.to_string()))?;
    audit::record(
        &mut tx,
        now,
        ctx,
        "keys.rotate",
        Some(&kid),
        json!({ "retired": retired }),
    )
    .await?;
    tx.commit().await?;
    Ok((kid, retired))
}

#[derive(Deserialize)]
pub struct AuditQuery {
    before: Option<String>,
    limit: Option<String>,
    action: Option<String>,
}

pub async fn audit_log(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> AppResult<Json<serde_json::Value>> {
    user.require(ADMIN)?;
    let before = match q.before.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<i64>()
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| bad_request("invalid_cursor"))?,
        ),
    };
    let limit = match q.limit.as_deref() {
        None => 50,
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|v| (1..=500).contains(v))
            .ok_or_else(|| bad_request("invalid_limit"))?,
    };
    let mut conn = state.db.pool.acquire().await?;
    let entries = audit::page(&mut conn, before, q.action.as_deref(), limit).await?;
    let next = if entries.len() as i64 == limit {
        entries.last().map(|e| e.id.to_string())
    } else {
        None
    };
    Ok(Json(json!({ "entries": entries, "next_before": next })))
}

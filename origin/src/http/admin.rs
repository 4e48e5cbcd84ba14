//! The admin API: roles, permissions, assignments, separation of duty, user disable/enable,
//! key rotation, the audit log. Each handler parses, calls one domain operation — which checks
//! `rbac:admin` and owns the transaction, the audit entry and the revocation marks — and
//! renders.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::envelope::AuthUser;
use super::extract::{ApiJson, ApiQuery, RequestCtx};
use super::AppState;
use crate::domain::{accounts, audit, directory, keys, rbac, Page};
use crate::error::AppResult;

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn created(body: serde_json::Value) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

pub async fn list_roles(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
) -> AppResult<Json<serde_json::Value>> {
    let roles = rbac::list_roles(&state, &user.ctx(rc)).await?;
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
    let ctx = user.ctx(rc);
    rbac::create_role(&state, &ctx, &b.name, b.parent.as_deref(), &b.description).await?;
    Ok(created(
        json!({ "name": b.name, "parent": b.parent, "description": b.description }),
    ))
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
    let ctx = user.ctx(rc);
    rbac::set_parent(&state, &ctx, &name, b.parent.as_deref()).await?;
    Ok(no_content())
}

pub async fn delete_role(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path(name): Path<String>,
) -> AppResult<Response> {
    let ctx = user.ctx(rc);
    rbac::delete_role(&state, &ctx, &name).await?;
    Ok(no_content())
}

pub async fn list_permissions(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
) -> AppResult<Json<serde_json::Value>> {
    let perms: Vec<_> = rbac::list_permissions(&state, &user.ctx(rc))
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
    let ctx = user.ctx(rc);
    rbac::create_permission(&state, &ctx, &b.name, &b.description).await?;
    Ok(created(
        json!({ "name": b.name, "description": b.description }),
    ))
}

pub async fn grant(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path((role, perm)): Path<(String, String)>,
) -> AppResult<Response> {
    let ctx = user.ctx(rc);
    rbac::grant_permission(&state, &ctx, &role, &perm).await?;
    Ok(no_content())
}

pub async fn revoke(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path((role, perm)): Path<(String, String)>,
) -> AppResult<Response> {
    let ctx = user.ctx(rc);
    rbac::revoke_permission(&state, &ctx, &role, &perm).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
pub struct UsersQuery {
    q: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

/// GET /admin/users?q=&after=&limit=: users whose e-mail contains `q` (or whose id is `q`), in
/// e-mail order; `next_after` is the cursor of the next page (null on the last).
pub async fn search_users(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    ApiQuery(q): ApiQuery<UsersQuery>,
) -> AppResult<Json<serde_json::Value>> {
    let ctx = user.ctx(rc);
    let search =
        directory::UserSearch::parse(q.q.as_deref(), q.after.as_deref(), q.limit.as_deref())
            .map_err(crate::domain::DomainError::from)?;
    let (users, next) = directory::search(&state, &ctx, &search).await?;
    Ok(Json(json!({ "users": users, "next_after": next })))
}

pub async fn get_user(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path(id): Path<String>,
) -> AppResult<Json<rbac::UserRoles>> {
    Ok(Json(rbac::user_roles(&state, &user.ctx(rc), &id).await?))
}

pub async fn assign(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path((id, role)): Path<(String, String)>,
) -> AppResult<Response> {
    let ctx = user.ctx(rc);
    rbac::grant_role(&state, &ctx, &id, &role).await?;
    Ok(no_content())
}

pub async fn unassign(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path((id, role)): Path<(String, String)>,
) -> AppResult<Response> {
    let ctx = user.ctx(rc);
    rbac::revoke_role(&state, &ctx, &id, &role).await?;
    Ok(no_content())
}

pub async fn disable(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let ctx = user.ctx(rc);
    accounts::set_disabled(&state, &ctx, &id, true).await?;
    Ok(no_content())
}

pub async fn enable(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let ctx = user.ctx(rc);
    accounts::set_disabled(&state, &ctx, &id, false).await?;
    Ok(no_content())
}

pub async fn list_sod(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
) -> AppResult<Json<serde_json::Value>> {
    let pairs: Vec<_> = rbac::sod_pairs(&state, &user.ctx(rc))
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
    let ctx = user.ctx(rc);
    rbac::add_sod(&state, &ctx, &b.roles[0], &b.roles[1]).await?;
    Ok(created(json!({ "roles": b.roles })))
}

pub async fn remove_sod(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    Path((x, y)): Path<(String, String)>,
) -> AppResult<Response> {
    let ctx = user.ctx(rc);
    rbac::remove_sod(&state, &ctx, &x, &y).await?;
    Ok(no_content())
}

pub async fn rotate_keys(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
) -> AppResult<Json<serde_json::Value>> {
    let ctx = user.ctx(rc);
    let (kid, retired) = keys::rotate(&state, &ctx).await?;
    Ok(Json(json!({ "kid": kid, "retired": retired })))
}

#[derive(Deserialize)]
pub struct AuditQuery {
    action: Option<String>,
}

pub async fn audit_log(
    State(state): State<AppState>,
    user: AuthUser,
    rc: RequestCtx,
    page: Page,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> AppResult<Json<serde_json::Value>> {
    let action = q.action.filter(|a| !a.is_empty());
    let entries = audit::list(&state, &user.ctx(rc), action.as_deref(), page).await?;
    let next = page.next_before(&entries, |e| e.id);
    Ok(Json(json!({ "entries": entries, "next_before": next })))
}

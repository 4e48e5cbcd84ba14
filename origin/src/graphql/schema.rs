//! The GraphQL schema: the signed-in user's own view (`me`), admin queries (users with their
//! roles, roles with parents and permissions, the audit log, webhook events) and admin
//! mutations. Each resolver parses its arguments, calls one domain operation or read with the
//! caller's `Ctx` — which decides whether the caller may — and renders. Log-in, OTP and every
//! other credential check stay REST-only (rate-limited per account there).

use std::sync::Arc;

use async_graphql::{Context, EmptySubscription, Enum, Object, Result, Schema, SimpleObject, ID};

use super::errors::{domain, invalid};
use super::loaders::{EffectiveOf, Loaders, PermissionsOf, RoleNamed, RolesOf, SessionsOf};
use crate::domain::relations::{self, RoleRecord};
use crate::domain::sessions::SessionView;
use crate::domain::users::User as UserRecord;
use crate::domain::webhooks::{self, ListFilter, Status};
use crate::domain::{accounts, audit, mfa, rbac, sessions, Core, Ctx, Page};

pub type ApiSchema = Schema<Query, Mutation, EmptySubscription>;

/// A page of a list field: 1–100 entries.
pub const MAX_PAGE: i32 = 100;

/// Who is asking, as the edge verified it, and the services to ask.
pub struct Caller {
    pub core: Arc<Core>,
    pub ctx: Ctx,
    pub user_id: String,
    pub session: Option<String>,
    /// The roles and permissions of the caller's verified token (the envelope).
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
}

fn caller<'a>(ctx: &Context<'a>) -> &'a Caller {
    ctx.data_unchecked::<Arc<Caller>>()
}

fn loaders<'a>(ctx: &Context<'a>) -> &'a Loaders {
    ctx.data_unchecked::<Arc<Loaders>>()
}

fn page_size(first: i32) -> Result<i64> {
    if (1..=MAX_PAGE).contains(&first) {
        Ok(first as i64)
    } else {
        Err(invalid(
            "invalid_limit",
            &format!("first must be between 1 and {MAX_PAGE}"),
        ))
    }
}

fn cursor(before: Option<String>) -> Result<Option<i64>> {
    match before.as_deref() {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|v| *v > 0)
            .map(Some)
            .ok_or_else(|| {
                invalid(
                    "invalid_cursor",
                    "before must be a cursor from a previous page",
                )
            }),
    }
}

pub struct Query;

#[Object]
impl Query {
    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> Me {
        let c = caller(ctx);
        Me {
            id: c.user_id.clone(),
        }
    }

    /// Accounts by id, `first` at a time after the cursor `after` (needs `rbac:admin`).
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> Result<Option<UserPage>> {
        let c = caller(ctx);
        let limit = page_size(first)?;
        let users = relations::users_page(&c.core, &c.ctx, after.as_deref(), limit)
            .await
            .map_err(domain)?;
        prime_users(ctx, &users).await?;
        let next_after = (users.len() as i64 == limit)
            .then(|| users.last().map(|u| u.id.clone()))
            .flatten();
        Ok(Some(UserPage {
            nodes: users.into_iter().map(User).collect(),
            next_after,
        }))
    }

    /// One account (needs `rbac:admin`, unless it is the caller's own id).
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        let c = caller(ctx);
        let mut m = relations::users_by_id(&c.core, &c.ctx, &[id.to_string()])
            .await
            .map_err(domain)?;
        Ok(m.remove(id.as_str()).map(User))
    }

    /// Every role with its parent and permissions (needs `rbac:admin`).
    async fn roles(&self, ctx: &Context<'_>) -> Result<Option<Vec<Role>>> {
        let c = caller(ctx);
        let roles = relations::all_roles(&c.core, &c.ctx)
            .await
            .map_err(domain)?;
        Ok(Some(roles.into_iter().map(Role).collect()))
    }

    /// Every permission (needs `rbac:admin`).
    async fn permissions(&self, ctx: &Context<'_>) -> Result<Option<Vec<Permission>>> {
        let c = caller(ctx);
        let perms = rbac::list_permissions(&c.core, &c.ctx)
            .await
            .map_err(domain)?;
        Ok(Some(
            perms
                .into_iter()
                .map(|(name, description)| Permission { name, description })
                .collect(),
        ))
    }

    /// The audit log, newest first; `before` is the previous page's `nextBefore` (needs
    /// `rbac:admin`).
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50)] first: i32,
        before: Option<String>,
        action: Option<String>,
    ) -> Result<Option<AuditPage>> {
        let c = caller(ctx);
        let page = Page {
            before: cursor(before)?,
            limit: page_size(first)?,
        };
        let action = action.filter(|a| !a.is_empty());
        let entries = audit::list(&c.core, &c.ctx, action.as_deref(), page)
            .await
            .map_err(domain)?;
        let next_before = page.next_before(&entries, |e| e.id);
        Ok(Some(AuditPage {
            nodes: entries.into_iter().map(AuditEntry).collect(),
            next_before,
        }))
    }

    /// Webhook events, newest first, optionally of one status (needs `webhooks:admin`).
    async fn webhook_events(
        &self,
        ctx: &Context<'_>,
        status: Option<WebhookStatus>,
        #[graphql(default = 50)] first: i32,
        before: Option<String>,
    ) -> Result<Option<WebhookEventPage>> {
        let c = caller(ctx);
        let page = Page {
            before: cursor(before)?,
            limit: page_size(first)?,
        };
        let filter = ListFilter {
            status: status.map(Status::from),
            ..ListFilter::default()
        };
        let events = webhooks::list(&c.core, &c.ctx, &filter, page)
            .await
            .map_err(domain)?;
        let next_before = page.next_before(&events, |e| e.id);
        Ok(Some(WebhookEventPage {
            nodes: events
                .into_iter()
                .map(|e| WebhookEvent {
                    id: ID(e.id.to_string()),
                    provider: e.provider,
                    event_id: e.event_id,
                    event_type: e.event_type,
                    status: e.status,
                    attempts: e.attempts as i32,
                    received_at: e.received_at as f64,
                    last_error: e.last_error,
                })
                .collect(),
            next_before,
        }))
    }
}

/// Loads, in one batch each, the relations of a page of users its query selects (look-ahead),
/// so 50 users cost one statement per relation however their fields are scheduled.
async fn prime_users(ctx: &Context<'_>, users: &[UserRecord]) -> Result<()> {
    let l = loaders(ctx);
    if !l.batched() || users.is_empty() {
        return Ok(());
    }
    let nodes = ctx.look_ahead().field("nodes");
    let ids = || users.iter().map(|u| u.id.clone());
    let roles = nodes.field("roles");
    let effective = nodes.field("permissions").exists() || nodes.field("effectiveRoles").exists();
    let (assigned, _, _) = tokio::join!(
        async {
            if roles.exists() {
                l.many(ids().map(RolesOf).collect()).await.map(Some)
            } else {
                Ok(None)
            }
        },
        async {
            if effective {
                l.prime(ids().map(EffectiveOf).collect()).await
            } else {
                Ok(())
            }
        },
        async {
            if nodes.field("sessions").exists() {
                l.prime(ids().map(SessionsOf).collect()).await
            } else {
                Ok(())
            }
        },
    );
    let Some(assigned) = assigned? else {
        return Ok(());
    };
    let names: std::collections::BTreeSet<String> = assigned.into_values().flatten().collect();
    let recs = l
        .many(names.iter().cloned().map(RoleNamed).collect())
        .await?;
    if roles.field("permissions").exists() {
        l.prime(names.iter().cloned().map(PermissionsOf).collect())
            .await?;
    }
    if roles.field("parent").exists() {
        let parents: Vec<RoleNamed> = recs
            .values()
            .filter_map(|r| r.parent.clone())
            .filter(|p| !names.contains(p))
            .map(RoleNamed)
            .collect();
        l.prime(parents).await?;
    }
    Ok(())
}

/// The signed-in user: who the edge says they are, and their own records.
pub struct Me {
    id: String,
}

#[Object]
impl Me {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }

    /// The session of the token this request carried.
    async fn session_id(&self, ctx: &Context<'_>) -> Option<ID> {
        caller(ctx).session.clone().map(ID)
    }

    async fn email(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        let c = caller(ctx);
        let mut m = relations::users_by_id(&c.core, &c.ctx, std::slice::from_ref(&self.id))
            .await
            .map_err(domain)?;
        Ok(m.remove(&self.id).map(|u| u.email))
    }

    /// The roles of the verified token (effective: inherited ones included).
    async fn roles(&self, ctx: &Context<'_>) -> Vec<String> {
        caller(ctx).roles.clone()
    }

    /// The permissions of the verified token: what every check of this request uses.
    async fn permissions(&self, ctx: &Context<'_>) -> Vec<String> {
        caller(ctx).permissions.clone()
    }

    /// The user's live sessions, newest first.
    async fn sessions(&self, ctx: &Context<'_>) -> Result<Vec<Session>> {
        let s = loaders(ctx).one(SessionsOf(self.id.clone())).await?;
        Ok(s.unwrap_or_default().into_iter().map(Session).collect())
    }

    /// How this account can sign in (linked identities: a password, and TOTP when on).
    async fn sign_in_methods(&self, ctx: &Context<'_>) -> Result<Vec<SignInMethod>> {
        let c = caller(ctx);
        let status = mfa::status(&c.core, &self.id).await.map_err(domain)?;
        let mut out = vec![SignInMethod {
            kind: "password".into(),
            enabled: true,
        }];
        out.push(SignInMethod {
            kind: "totp".into(),
            enabled: status.totp_enabled,
        });
        Ok(out)
    }
}

#[derive(SimpleObject)]
pub struct SignInMethod {
    /// `password`, `totp`.
    kind: String,
    enabled: bool,
}

pub struct Session(SessionView);

#[Object]
impl Session {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn user_agent(&self) -> &str {
        &self.0.user_agent
    }
    async fn ip(&self) -> &str {
        &self.0.ip
    }
    /// Unix seconds.
    async fn created_at(&self) -> f64 {
        self.0.created_at as f64
    }
    async fn last_used_at(&self) -> f64 {
        self.0.last_used_at as f64
    }
    async fn expires_at(&self) -> f64 {
        self.0.expires_at as f64
    }
    /// The session of the token this request carried.
    async fn current(&self) -> bool {
        self.0.current
    }
}

#[derive(SimpleObject)]
pub struct UserPage {
    nodes: Vec<User>,
    /// The cursor of the next page (`users(after: …)`), when this one is full.
    next_after: Option<String>,
}

pub struct User(UserRecord);

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn email(&self) -> &str {
        &self.0.email
    }
    async fn disabled(&self) -> bool {
        self.0.disabled
    }

    /// The roles assigned to the user.
    async fn roles(&self, ctx: &Context<'_>) -> Result<Vec<Role>> {
        let l = loaders(ctx);
        let names = l.one(RolesOf(self.0.id.clone())).await?.unwrap_or_default();
        let mut recs = l
            .many(names.iter().cloned().map(RoleNamed).collect())
            .await?;
        Ok(names
            .into_iter()
            .filter_map(|n| recs.remove(&RoleNamed(n)))
            .map(Role)
            .collect())
    }

    /// Assigned roles and every ancestor: what the user's next token carries.
    async fn effective_roles(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        let e = loaders(ctx).one(EffectiveOf(self.0.id.clone())).await?;
        Ok(e.map(|e| e.roles).unwrap_or_default())
    }

    /// The permissions of the effective roles.
    async fn permissions(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        let e = loaders(ctx).one(EffectiveOf(self.0.id.clone())).await?;
        Ok(e.map(|e| e.permissions).unwrap_or_default())
    }

    /// Live sessions, newest first.
    async fn sessions(&self, ctx: &Context<'_>) -> Result<Vec<Session>> {
        let s = loaders(ctx).one(SessionsOf(self.0.id.clone())).await?;
        Ok(s.unwrap_or_default().into_iter().map(Session).collect())
    }
}

pub struct Role(RoleRecord);

#[Object]
impl Role {
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    /// The role this one inherits from.
    async fn parent(&self, ctx: &Context<'_>) -> Result<Option<Role>> {
        match &self.0.parent {
            None => Ok(None),
            Some(p) => Ok(loaders(ctx).one(RoleNamed(p.clone())).await?.map(Role)),
        }
    }
    /// Permissions granted to this role directly (the parent's come through `parent`).
    async fn permissions(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        let p = loaders(ctx).one(PermissionsOf(self.0.name.clone())).await?;
        Ok(p.unwrap_or_default())
    }
}

#[derive(SimpleObject)]
pub struct Permission {
    name: String,
    description: String,
}

#[derive(SimpleObject)]
pub struct AuditPage {
    nodes: Vec<AuditEntry>,
    /// The cursor of the next page (`auditLog(before: …)`), when this one is full.
    next_before: Option<String>,
}

pub struct AuditEntry(audit::Entry);

#[Object]
impl AuditEntry {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Unix milliseconds.
    async fn at(&self) -> f64 {
        self.0.at as f64
    }
    async fn actor(&self) -> Option<&str> {
        self.0.actor.as_deref()
    }
    async fn action(&self) -> &str {
        &self.0.action
    }
    async fn target(&self) -> Option<&str> {
        self.0.target.as_deref()
    }
    /// The entry's detail as a JSON text.
    async fn detail(&self) -> String {
        self.0.detail.to_string()
    }
    async fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum WebhookStatus {
    Pending,
    Retry,
    Done,
    Ignored,
    Dead,
}

impl From<WebhookStatus> for Status {
    fn from(s: WebhookStatus) -> Status {
        match s {
            WebhookStatus::Pending => Status::Pending,
            WebhookStatus::Retry => Status::Retry,
            WebhookStatus::Done => Status::Done,
            WebhookStatus::Ignored => Status::Ignored,
            WebhookStatus::Dead => Status::Dead,
        }
    }
}

#[derive(SimpleObject)]
pub struct WebhookEventPage {
    nodes: Vec<WebhookEvent>,
    next_before: Option<String>,
}

#[derive(SimpleObject)]
pub struct WebhookEvent {
    id: ID,
    provider: String,
    /// The provider's event id.
    event_id: String,
    #[graphql(name = "type")]
    event_type: String,
    /// `pending`, `retry`, `done`, `ignored`, `dead`.
    status: String,
    attempts: i32,
    /// Unix milliseconds.
    received_at: f64,
    last_error: Option<String>,
}

pub struct Mutation;

#[Object]
impl Mutation {
    /// Assigns a role (needs `rbac:admin`); false when the user already had it.
    async fn assign_role(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        role: String,
    ) -> Result<Option<bool>> {
        let c = caller(ctx);
        let changed = rbac::grant_role(&c.core, &c.ctx, &user_id, &role)
            .await
            .map_err(domain)?;
        Ok(Some(changed))
    }

    /// Takes a role away (needs `rbac:admin`); false when the user did not have it.
    async fn unassign_role(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        role: String,
    ) -> Result<Option<bool>> {
        let c = caller(ctx);
        let changed = rbac::revoke_role(&c.core, &c.ctx, &user_id, &role)
            .await
            .map_err(domain)?;
        Ok(Some(changed))
    }

    /// Grants a permission to a role (needs `rbac:admin`).
    async fn grant_permission(
        &self,
        ctx: &Context<'_>,
        role: String,
        permission: String,
    ) -> Result<Option<bool>> {
        let c = caller(ctx);
        let changed = rbac::grant_permission(&c.core, &c.ctx, &role, &permission)
            .await
            .map_err(domain)?;
        Ok(Some(changed))
    }

    /// Takes a permission from a role (needs `rbac:admin`).
    async fn revoke_permission(
        &self,
        ctx: &Context<'_>,
        role: String,
        permission: String,
    ) -> Result<Option<bool>> {
        let c = caller(ctx);
        let changed = rbac::revoke_permission(&c.core, &c.ctx, &role, &permission)
            .await
            .map_err(domain)?;
        Ok(Some(changed))
    }

    /// Disables or enables an account (needs `rbac:admin`).
    async fn set_user_disabled(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        disabled: bool,
    ) -> Result<Option<bool>> {
        let c = caller(ctx);
        accounts::set_disabled(&c.core, &c.ctx, &user_id, disabled)
            .await
            .map_err(domain)?;
        Ok(Some(true))
    }

    /// Ends one of the caller's own sessions.
    async fn revoke_session(&self, ctx: &Context<'_>, id: ID) -> Result<Option<bool>> {
        let c = caller(ctx);
        let done = sessions::revoke(&c.core, &c.ctx, &c.user_id, &id, "revoked_by_user")
            .await
            .map_err(domain)?;
        Ok(Some(done))
    }
}

/// The schema, with introspection (and field suggestions in errors) only when enabled.
pub fn build(introspection: bool) -> ApiSchema {
    let b = Schema::build(Query, Mutation, EmptySubscription);
    let b = if introspection {
        b
    } else {
        b.disable_introspection().disable_suggestions()
    };
    b.finish()
}

/// The schema's SDL, as checked in at `origin/schema.graphql`.
pub fn sdl() -> String {
    build(true).sdl()
}

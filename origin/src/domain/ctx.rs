//! Who an operation acts for: the caller the edge verified (or the operator at the command
//! line), what they may do, and where the request came from (for audit rows and sessions).
//! Operations check the permission they need here, so every entry point — REST, GraphQL, a
//! CLI command — gets the same answer.

use std::collections::BTreeSet;

use super::error::{DomainError, DomainResult};

/// Administers roles, permissions, assignments, accounts, signing keys and reads the audit log.
pub const RBAC_ADMIN: &str = "rbac:admin";
/// Reads and replays webhook events: its own power, separate from `rbac:admin`.
pub const WEBHOOKS_ADMIN: &str = "webhooks:admin";

/// What the caller may do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Authority {
    /// Nothing beyond acting on their own account (anonymous callers, sign-up, log-in).
    #[default]
    Nothing,
    /// The permissions of the caller's verified access token.
    Permissions(BTreeSet<String>),
    /// The operator at the command line (`create-admin`, `rotate-keys`): every permission.
    Operator,
}

/// The context every operation takes.
#[derive(Clone, Debug, Default)]
pub struct Ctx {
    /// The acting user's id (`cli` for the operator); `None` for anonymous callers.
    pub actor: Option<String>,
    /// The edge's request id, recorded with the audit entry.
    pub request_id: Option<String>,
    /// The client IP and user agent the edge forwarded (session records).
    pub ip: String,
    pub user_agent: String,
    pub authority: Authority,
    /// The caller's session (the `sid` of their verified token), when signed in.
    pub session: Option<String>,
    /// When the caller last really authenticated (unix seconds), when the edge forwarded the
    /// token's `auth_time`; see `sessions::require_fresh`.
    pub auth_time: Option<i64>,
}

impl Ctx {
    /// The same request, acted by `actor` with `authority`.
    pub fn acting(&self, actor: &str) -> Ctx {
        Ctx {
            actor: Some(actor.to_owned()),
            ..self.clone()
        }
    }

    /// The same request, with the permissions the caller's verified token carried.
    pub fn with_permissions<I, S>(mut self, permissions: I) -> Ctx
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.authority = Authority::Permissions(permissions.into_iter().map(Into::into).collect());
        self
    }

    /// The operator at the command line.
    /// The origin's own timers (scheduled key rotation): an operator with its own name in the
    /// audit log.
    pub fn scheduler() -> Ctx {
        Ctx {
            actor: Some("scheduler".into()),
            authority: Authority::Operator,
            ..Default::default()
        }
    }

    pub fn cli() -> Ctx {
        Ctx {
            actor: Some("cli".into()),
            authority: Authority::Operator,
            ..Default::default()
        }
    }

    pub fn may(&self, permission: &str) -> bool {
        match &self.authority {
            Authority::Nothing => false,
            Authority::Permissions(p) => p.contains(permission),
            Authority::Operator => true,
        }
    }

    /// Refuses with [`DomainError::PermissionMissing`] unless the caller may `permission`.
    pub fn require(&self, permission: &'static str) -> DomainResult<()> {
        if self.may(permission) {
            Ok(())
        } else {
            Err(DomainError::PermissionMissing { permission })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_permission_or_the_operator_passes() {
        let anon = Ctx::default();
        let user = Ctx::default().with_permissions(["profile:read"]);
        let admin = Ctx::default().with_permissions([RBAC_ADMIN]);
        assert!(anon.require(RBAC_ADMIN).is_err());
        assert!(user.require(RBAC_ADMIN).is_err());
        assert!(admin.require(RBAC_ADMIN).is_ok());
        assert!(admin.require(WEBHOOKS_ADMIN).is_err(), "separate powers");
        assert!(Ctx::cli().require(WEBHOOKS_ADMIN).is_ok());
        // Acting as someone keeps the authority it was given.
        assert!(admin.acting("usr_1").may(RBAC_ADMIN));
    }
}

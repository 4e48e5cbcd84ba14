//! The authorize stage: does the verified identity satisfy the route? The one place that says
//! which identity a route's access kind needs, and what it must carry.

use crate::identity::Identity;
use crate::policy::{Access, Rule};
use crate::reason::Reason;
use crate::time::UnixMillis;

/// Does the route need a verified user (a bearer token)? Decided here only.
pub fn needs_user(rule: &Rule) -> bool {
    matches!(rule.access, Access::Authenticated | Access::Permissions(_))
}

/// Does the identity satisfy the rule at `now`? Only called with an identity built from
/// verified input — a decision-cache hit included, so a cached token is held to the route's
/// step-up requirement as well.
pub fn authorize(rule: &Rule, identity: &Identity, now: UnixMillis) -> Result<(), Reason> {
    access(rule, identity)?;
    if let (true, Identity::User(c)) = (rule.step_up.is_required(), identity) {
        if !rule.step_up.is_met_by(c.auth_time(), c.amr(), now.secs()) {
            return Err(Reason::StepUpRequired);
        }
    }
    Ok(())
}

/// What a denial's `WWW-Authenticate` challenge names for this route: the permissions
/// (`scope`) and the RFC 9470 step-up parameters.
pub fn challenge(rule: &Rule) -> (Option<String>, Option<String>) {
    let scope = match &rule.access {
        Access::Permissions(p) => Some(p.scope()),
        _ => None,
    };
    (
        scope,
        rule.step_up.is_required().then(|| rule.step_up.challenge()),
    )
}

fn access(rule: &Rule, identity: &Identity) -> Result<(), Reason> {
    match (&rule.access, identity) {
        (Access::Public, _) => Ok(()),
        (Access::Authenticated, Identity::User(_)) => Ok(()),
        (Access::Permissions(p), Identity::User(c)) => {
            if p.is_satisfied_by(c.permissions()) {
                Ok(())
            } else {
                Err(Reason::InsufficientPermissions)
            }
        }
        (Access::Webhook(_), Identity::Webhook(_)) => Ok(()),
        // A route that needs a user cannot be satisfied by anything else, and vice versa.
        (Access::Authenticated | Access::Permissions(_), _) => Err(Reason::TokenMissing),
        (Access::Webhook(_), _) => Err(Reason::WebhookSignatureMissing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RoutePolicy;

    #[test]
    fn anonymous_identities_never_satisfy_user_or_webhook_routes() {
        let p = RoutePolicy::from_json(
            r#"[{"id":"pub","path":"/p","access":"public"},{"id":"wh","path":"/w","access":{"webhook":"stripe"}}]"#,
        )
        .unwrap();
        let now = UnixMillis(0);
        assert_eq!(
            authorize(p.route("GET", "/p"), &Identity::Anonymous, now),
            Ok(())
        );
        assert_eq!(
            authorize(p.route("GET", "/other"), &Identity::Anonymous, now),
            Err(Reason::TokenMissing)
        );
        assert_eq!(
            authorize(p.route("POST", "/w"), &Identity::Anonymous, now),
            Err(Reason::WebhookSignatureMissing)
        );
        assert!(needs_user(p.route("GET", "/other")));
        assert!(!needs_user(p.route("GET", "/p")));
        assert!(!needs_user(p.route("POST", "/w")));
    }
}

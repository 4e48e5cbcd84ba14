//! The authorize stage: does the verified identity satisfy the route? The one place that says
//! which identity a route's access kind needs, and what it must carry.

use crate::identity::Identity;
use crate::policy::{Access, Rule};
use crate::reason::Reason;

/// Does the route need a verified user (a bearer token)? Decided here only.
pub fn needs_user(rule: &Rule) -> bool {
    matches!(rule.access, Access::Authenticated | Access::Permissions(_))
}

/// Does the identity satisfy the rule? Only called with an identity built from verified input.
pub fn authorize(rule: &Rule, identity: &Identity) -> Result<(), Reason> {
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
        assert_eq!(
            authorize(p.route("GET", "/p"), &Identity::Anonymous),
            Ok(())
        );
        assert_eq!(
            authorize(p.route("GET", "/other"), &Identity::Anonymous),
            Err(Reason::TokenMissing)
        );
        assert_eq!(
            authorize(p.route("POST", "/w"), &Identity::Anonymous),
            Err(Reason::WebhookSignatureMissing)
        );
        assert!(needs_user(p.route("GET", "/other")));
        assert!(!needs_user(p.route("GET", "/p")));
        assert!(!needs_user(p.route("POST", "/w")));
    }
}

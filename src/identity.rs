//! Who the edge vouches for. Built only from verified types, so an allow decision
//! cannot be made from unverified input.

use crate::envelope::{self, EdgeHeaders, EnvelopeError};
use crate::jwt::VerifiedClaims;
use crate::text;
use crate::webhook::VerifiedWebhook;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A public route: forwarded, signed, with no user headers.
    Anonymous,
    User(VerifiedClaims),
    Webhook(VerifiedWebhook),
}

impl From<VerifiedClaims> for Identity {
    fn from(c: VerifiedClaims) -> Self {
        Identity::User(c)
    }
}

impl From<VerifiedWebhook> for Identity {
    fn from(w: VerifiedWebhook) -> Self {
        Identity::Webhook(w)
    }
}

impl Identity {
    pub fn kind(&self) -> &'static str {
        match self {
            Identity::Anonymous => "anonymous",
            Identity::User(_) => "user",
            Identity::Webhook(_) => "webhook",
        }
    }

    /// The `x-auth-*` headers the edge forwards for this identity (the caller adds the
    /// forwarding context and signs), pushed in the envelope's canonical order. Fails if a
    /// claim holds a character no header can carry (CR, LF, NUL): nothing is then forwarded.
    pub fn envelope_headers(&self) -> Result<EdgeHeaders<'_>, EnvelopeError> {
        let mut h = EdgeHeaders::with_capacity(10);
        match self {
            Identity::Anonymous => {}
            Identity::User(c) => {
                h.push(envelope::EXPIRES, text::decimal_string(c.expires_at()))?;
                if let Some(iat) = c.issued_at() {
                    h.push(envelope::ISSUED_AT, text::decimal_string(iat))?;
                }
                h.push(envelope::ISSUER, c.issuer())?;
                h.push(envelope::PERMISSIONS, c.permissions_header())?;
                h.push(envelope::ROLES, c.roles_header())?;
                if let Some(sid) = c.session_id() {
                    h.push(envelope::SESSION, sid)?;
                }
                h.push(envelope::USER, c.subject())?;
            }
            Identity::Webhook(w) => {
                if let Some(id) = w.delivery_id() {
                    h.push(envelope::WEBHOOK_ID, id)?;
                }
                h.push(envelope::WEBHOOK_PROVIDER, w.provider())?;
                if let Some(t) = w.timestamp() {
                    h.push(envelope::WEBHOOK_TIMESTAMP, text::decimal_string(t))?;
                }
            }
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::Claims;

    /// The envelope's canonical order holds by construction: `EdgeHeaders::push` refuses a name
    /// out of order, so a wrong order here makes `envelope_headers` an error (the `unwrap`s).
    #[test]
    fn identity_headers_come_sorted_by_name() {
        let claims = Claims {
            issuer: "https://issuer.test".into(),
            subject: "alice".into(),
            session_id: Some("s1".into()),
            token_id: None,
            expires_at: 2,
            issued_at: Some(1),
            roles: vec!["admin".into(), "user".into()],
            permissions: vec!["items:read".into()],
            auth_time: None,
            amr: vec![],
            acr: None,
        };
        let user = Identity::User(claims.into());
        let names: Vec<_> = user
            .envelope_headers()
            .unwrap()
            .iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names.len(), 7);
        assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
        let headers = user.envelope_headers().unwrap();
        let values: Vec<_> = headers.iter().map(|(_, v)| v).collect();
        assert_eq!(values[3], "items:read");
        assert_eq!(values[4], "admin,user");
        let hook = Identity::Webhook(crate::webhook::VerifiedWebhook {
            provider: "stripe",
            delivery_id: Some("evt_1".into()),
            timestamp: Some(5),
            secret_index: 0,
        });
        let names: Vec<_> = hook
            .envelope_headers()
            .unwrap()
            .iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            names,
            [
                envelope::WEBHOOK_ID,
                envelope::WEBHOOK_PROVIDER,
                envelope::WEBHOOK_TIMESTAMP
            ]
        );
    }
}

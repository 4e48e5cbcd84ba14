//! Who the edge vouches for. Built only from verified types, so an allow decision
//! cannot be made from unverified input.

use crate::envelope;
use crate::jwt::VerifiedClaims;
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

    /// The `x-auth-*` headers the edge forwards for this identity (the signature is added by the caller).
    pub fn envelope_headers(&self) -> Vec<(&'static str, String)> {
        let mut h = Vec::new();
        match self {
            Identity::Anonymous => {}
            Identity::User(c) => {
                h.push((envelope::USER, c.subject().to_owned()));
                if let Some(sid) = c.session_id() {
                    h.push((envelope::SESSION, sid.to_owned()));
                }
                h.push((envelope::ROLES, c.roles().join(",")));
                h.push((envelope::PERMISSIONS, c.permissions().join(",")));
                h.push((envelope::ISSUER, c.issuer().to_owned()));
                h.push((envelope::EXPIRES, c.expires_at().to_string()));
                if let Some(iat) = c.issued_at() {
                    h.push((envelope::ISSUED_AT, iat.to_string()));
                }
            }
            Identity::Webhook(w) => {
                h.push((envelope::WEBHOOK_PROVIDER, w.provider().to_owned()));
                if let Some(id) = w.delivery_id() {
                    h.push((envelope::WEBHOOK_ID, id.to_owned()));
                }
                if let Some(t) = w.timestamp() {
                    h.push((envelope::WEBHOOK_TIMESTAMP, t.to_string()));
                }
            }
        }
        h
    }
}

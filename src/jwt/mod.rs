//! JWT validation: an [`UntrustedToken`] is parsed strictly, its signature checked with a key
//! pinned by the issuer's key set, its claims validated; only then does it become [`VerifiedClaims`].
//!
//! (Skeleton: the JWT work fills in parsing, keys, verifiers and validation.)

/// Claims of a token whose signature, issuer, audience and times were all checked.
/// Only this module can construct it, so only validated tokens can yield an identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClaims {
    pub(crate) issuer: String,
    pub(crate) subject: String,
    pub(crate) session_id: Option<String>,
    pub(crate) token_id: Option<String>,
    pub(crate) expires_at: u64,
    pub(crate) issued_at: Option<u64>,
    pub(crate) roles: Vec<String>,
    pub(crate) permissions: Vec<String>,
}

impl VerifiedClaims {
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    pub fn subject(&self) -> &str {
        &self.subject
    }
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }
    pub fn token_id(&self) -> Option<&str> {
        self.token_id.as_deref()
    }
    /// `exp`, unix seconds.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }
    pub fn issued_at(&self) -> Option<u64> {
        self.issued_at
    }
    pub fn roles(&self) -> &[String] {
        &self.roles
    }
    pub fn permissions(&self) -> &[String] {
        &self.permissions
    }
}

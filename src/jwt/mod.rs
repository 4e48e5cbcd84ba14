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

// ---- Temporary stubs matching the agreed API, replaced by the JWT work. ----
use crate::reason::Reason;
use crate::time::UnixMillis;

pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Hs256,
    Hs384,
    Hs512,
    Es256,
    EdDsa,
    Rs256,
    Ps256,
}
impl Algorithm {
    pub fn as_str(&self) -> &'static str {
        "HS256"
    }
}
pub enum KeyMaterial<'a> {
    Oct(&'a [u8]),
    Ec { x: &'a [u8], y: &'a [u8] },
    Okp { x: &'a [u8] },
    Rsa { n: &'a [u8], e: &'a [u8] },
}
#[derive(Debug)]
pub struct Jwk;
impl Jwk {
    pub fn kid(&self) -> Option<&str> {
        None
    }
    pub fn algorithm(&self) -> Algorithm {
        Algorithm::Hs256
    }
    pub fn material(&self) -> KeyMaterial<'_> {
        KeyMaterial::Oct(&[])
    }
}
#[derive(Debug, Default)]
pub struct KeySet;
#[derive(Debug)]
pub struct KeyError;
impl core::fmt::Display for KeyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("stub")
    }
}
impl KeySet {
    pub fn from_jwks_json(_s: &str) -> Result<KeySet, KeyError> {
        Err(KeyError)
    }
    pub fn len(&self) -> usize {
        0
    }
}
pub struct UntrustedToken<'a>(&'a str);
impl<'a> UntrustedToken<'a> {
    pub fn parse(token: &'a str, _max_len: usize) -> Result<Self, JwtError> {
        Ok(UntrustedToken(token))
    }
    pub fn unverified_issuer(&self) -> Option<&str> {
        None
    }
}
#[derive(Debug, Clone)]
pub struct IssuerPolicy {
    pub issuer: String,
    pub audiences: Vec<String>,
}
pub struct TimeOptions {
    pub now: UnixMillis,
    pub leeway_secs: u64,
}
pub struct SignatureCheck<'a> {
    pub key: &'a Jwk,
    pub alg: Algorithm,
    pub signing_input: &'a [u8],
    pub signature: &'a [u8],
}
pub trait SignatureVerifier {
    fn verify(
        &self,
        check: &SignatureCheck<'_>,
    ) -> impl core::future::Future<Output = Result<(), JwtError>>;
}
pub struct HmacVerifier;
impl SignatureVerifier for HmacVerifier {
    async fn verify(&self, _check: &SignatureCheck<'_>) -> Result<(), JwtError> {
        Err(JwtError::Other)
    }
}
#[derive(Debug)]
pub enum JwtError {
    SignatureInvalid,
    Other,
}
impl JwtError {
    pub fn reason(&self) -> Reason {
        Reason::TokenMalformed
    }
}
pub async fn validate<V: SignatureVerifier>(
    _token: &UntrustedToken<'_>,
    _keys: &KeySet,
    _issuer: &IssuerPolicy,
    _time: &TimeOptions,
    _verifier: &V,
) -> Result<VerifiedClaims, JwtError> {
    Err(JwtError::Other)
}

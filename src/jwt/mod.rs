//! JWT validation: an [`UntrustedToken`] is parsed strictly, its signature checked with a key
//! pinned by the issuer's key set, its claims validated; only then does it become [`VerifiedClaims`].
//!
//! The key decides the algorithm: a header `alg` that differs from the selected key's pinned
//! algorithm is refused, so `none`, HS/RS confusion and algorithm downgrades cannot happen.

mod alg;
mod claims;
mod error;
pub mod jwks;
mod keys;
mod token;
mod verify;

pub use alg::{Algorithm, RsaPadding};
pub use error::{JwtError, KeyError, Segment};
pub use keys::{Jwk, KeyMaterial, KeySet};
pub use token::{UntrustedToken, MAX_TOKEN_BYTES};
#[cfg(not(target_arch = "wasm32"))]
pub use verify::NativeVerifier;
pub use verify::{HmacVerifier, SignatureCheck, SignatureVerifier};

use crate::time::UnixMillis;
use claims::OwnedPayload;

/// Default clock skew tolerated on `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;

/// The issuer a token must come from, and the audiences it may be addressed to (any-of).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerPolicy {
    pub issuer: String,
    pub audiences: Vec<String>,
}

/// The clock, passed in (the core never reads one), and the tolerated skew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeOptions {
    pub now: UnixMillis,
    pub leeway_secs: u64,
}

impl TimeOptions {
    /// `now` with the default leeway of [`DEFAULT_LEEWAY_SECS`].
    pub const fn new(now: UnixMillis) -> Self {
        TimeOptions {
            now,
            leeway_secs: DEFAULT_LEEWAY_SECS,
        }
    }
}

/// Picks the key for `token`: by `kid` when present, else the single key pinning the
/// header's `alg`. The header never chooses the algorithm, it can only agree with the key.
pub fn select_key<'k>(token: &UntrustedToken<'_>, keys: &'k KeySet) -> Result<&'k Jwk, JwtError> {
    let alg = token.algorithm();
    match token.kid() {
        Some(kid) => {
            let key = keys.by_kid(kid).ok_or_else(|| JwtError::KeyUnknown {
                kid: Some(kid.to_owned()),
            })?;
            if key.algorithm() != alg {
                return Err(JwtError::AlgorithmMismatch {
                    expected: key.algorithm(),
                    actual: alg,
                });
            }
            Ok(key)
        }
        None => match keys.find(None, alg) {
            Some(k) => Ok(k),
            None => {
                // No key pins this alg at all: the header asks for an algorithm the issuer
                // does not use (e.g. HS256 against an RSA-only set).
                if !keys.keys().iter().any(|k| k.algorithm() == alg) {
                    if let [only] = keys.keys() {
                        return Err(JwtError::AlgorithmMismatch {
                            expected: only.algorithm(),
                            actual: alg,
                        });
                    }
                    return Err(JwtError::AlgorithmNotAllowed {
                        alg: alg.as_str().to_owned(),
                    });
                }
                Err(JwtError::KeyUnknown { kid: None })
            }
        },
    }
}

/// Parse → key selection → signature → claims. The only way to obtain [`VerifiedClaims`].
pub async fn validate<V: SignatureVerifier>(
    token: &UntrustedToken<'_>,
    keys: &KeySet,
    issuer: &IssuerPolicy,
    time: &TimeOptions,
    verifier: &V,
) -> Result<VerifiedClaims, JwtError> {
    let check = signature_check(token, keys)?;
    verifier.verify(&check).await?;
    claims::check(token.payload(), issuer, time)
}

/// What a synchronous driver says about one signature: its outcome now, or that it is being
/// checked elsewhere and the driver will come back with the outcome (the Worker asks WebCrypto).
pub enum SignatureVerdict {
    Checked(Result<(), JwtError>),
    Deferred,
}

/// The outcome of [`validate_with`] when nothing was refused. Returned and matched at once, on
/// the hot path of every asymmetric token: boxing the larger variant would cost an allocation per
/// request to save a few hundred bytes of stack for one call.
#[allow(clippy::large_enum_variant)]
pub enum Validation {
    Verified(VerifiedClaims),
    /// The driver deferred the signature: [`AwaitingSignature::finish`] completes the validation.
    Awaiting(AwaitingSignature),
}

/// [`validate`] for drivers that check the signature synchronously or elsewhere: `verify` gets
/// the pinned key and the well-sized signature and must answer `Checked(Ok(()))` only for a
/// signature it verified (the Worker's synchronous path checks HMAC so), or `Deferred` when it
/// verifies later (the Worker's synchronous path asks WebCrypto for the other algorithms).
pub fn validate_with(
    token: UntrustedToken<'_>,
    keys: &KeySet,
    issuer: &IssuerPolicy,
    time: &TimeOptions,
    verify: impl FnOnce(&SignatureCheck<'_>) -> SignatureVerdict,
) -> Result<Validation, JwtError> {
    let check = signature_check(&token, keys)?;
    match verify(&check) {
        SignatureVerdict::Checked(outcome) => outcome?,
        SignatureVerdict::Deferred => {
            let key = check.key.fingerprint();
            return Ok(Validation::Awaiting(AwaitingSignature {
                payload: token.into_payload(),
                key,
            }));
        }
    }
    claims::check(token.payload(), issuer, time).map(Validation::Verified)
}

/// A token whose key is selected and whose signature a driver is checking elsewhere. It keeps
/// the decoded payload, not the token, so the claims are checked once the signature is,
/// without parsing again. Only [`finish`](Self::finish) with a verified signature yields
/// [`VerifiedClaims`].
pub struct AwaitingSignature {
    payload: OwnedPayload,
    key: [u8; 16],
}

impl AwaitingSignature {
    /// The [`Jwk::fingerprint`] of the key the signature must verify with.
    pub fn key_fingerprint(&self) -> [u8; 16] {
        self.key
    }

    /// `verified`: the signature verified with the key [`key_fingerprint`](Self::key_fingerprint)
    /// names (false also when the check could not run). Then the claims, checked at `time`
    /// exactly as [`validate`] checks them.
    pub fn finish(
        self,
        verified: bool,
        issuer: &IssuerPolicy,
        time: &TimeOptions,
    ) -> Result<VerifiedClaims, JwtError> {
        if !verified {
            return Err(JwtError::SignatureInvalid);
        }
        claims::check(self.payload.get(), issuer, time)
    }
}

/// Key selection and the signature size check, shared by every driver.
pub fn signature_check<'t>(
    token: &'t UntrustedToken<'_>,
    keys: &'t KeySet,
) -> Result<SignatureCheck<'t>, JwtError> {
    let key = select_key(token, keys)?;
    // Checked here so every verifier (RustCrypto or WebCrypto) sees only well-sized signatures.
    if token.signature().len() != key.signature_len() {
        return Err(JwtError::SignatureInvalid);
    }
    Ok(SignatureCheck {
        key,
        alg: key.algorithm(),
        signing_input: token.signing_input(),
        signature: token.signature(),
    })
}

/// Claims of a token whose signature, issuer, audience and times were all checked.
/// Only this module can construct it, so only validated tokens can yield an identity.
/// Shared, not copied: a decision-cache hit hands out the cached claims for one reference
/// count, and the list claims' identity header values are joined once, when verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClaims(std::sync::Arc<Shared>);

#[derive(Debug, PartialEq, Eq)]
struct Shared {
    claims: Claims,
    roles_header: String,
    permissions_header: String,
}

/// The checked claim values, assembled by `claims::check` before they become [`VerifiedClaims`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Claims {
    pub(crate) issuer: String,
    pub(crate) subject: String,
    pub(crate) session_id: Option<String>,
    pub(crate) token_id: Option<String>,
    pub(crate) expires_at: u64,
    pub(crate) issued_at: Option<u64>,
    pub(crate) roles: Vec<String>,
    pub(crate) permissions: Vec<String>,
    /// `auth_time`: when the person last authenticated (unix seconds).
    pub(crate) auth_time: Option<u64>,
    /// `amr`: how (RFC 8176 values such as `pwd`, `otp`, `hwk`, `mfa`).
    pub(crate) amr: Vec<String>,
    /// `acr`: the authentication context class.
    pub(crate) acr: Option<String>,
}

impl From<Claims> for VerifiedClaims {
    fn from(claims: Claims) -> Self {
        VerifiedClaims(std::sync::Arc::new(Shared {
            roles_header: crate::text::join(&claims.roles, ","),
            permissions_header: crate::text::join(&claims.permissions, ","),
            claims,
        }))
    }
}

impl VerifiedClaims {
    pub fn issuer(&self) -> &str {
        &self.0.claims.issuer
    }
    pub fn subject(&self) -> &str {
        &self.0.claims.subject
    }
    pub fn session_id(&self) -> Option<&str> {
        self.0.claims.session_id.as_deref()
    }
    pub fn token_id(&self) -> Option<&str> {
        self.0.claims.token_id.as_deref()
    }
    /// `exp`, unix seconds.
    pub fn expires_at(&self) -> u64 {
        self.0.claims.expires_at
    }
    pub fn issued_at(&self) -> Option<u64> {
        self.0.claims.issued_at
    }
    pub fn roles(&self) -> &[String] {
        &self.0.claims.roles
    }
    /// `permissions` array and `scope` words, merged, first occurrence order, no repeats.
    pub fn permissions(&self) -> &[String] {
        &self.0.claims.permissions
    }
    /// `auth_time`, unix seconds, when the token carries a well-formed one.
    pub fn auth_time(&self) -> Option<u64> {
        self.0.claims.auth_time
    }
    /// `amr` values (empty when absent or malformed).
    pub fn amr(&self) -> &[String] {
        &self.0.claims.amr
    }
    /// `acr`, when present.
    pub fn acr(&self) -> Option<&str> {
        self.0.claims.acr.as_deref()
    }
    /// The roles as the `x-auth-roles` header value (comma-joined).
    pub fn roles_header(&self) -> &str {
        &self.0.roles_header
    }
    /// The permissions as the `x-auth-permissions` header value (comma-joined).
    pub fn permissions_header(&self) -> &str {
        &self.0.permissions_header
    }
}

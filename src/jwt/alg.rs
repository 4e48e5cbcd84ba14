//! The JWS algorithms this layer implements. Anything else (including every spelling of
//! `none`) has no variant, so it cannot be selected.

use core::fmt;

/// A JWS `alg` this layer can verify. A key pins exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    pub const ALL: [Algorithm; 7] = [
        Algorithm::Hs256,
        Algorithm::Hs384,
        Algorithm::Hs512,
        Algorithm::Es256,
        Algorithm::EdDsa,
        Algorithm::Rs256,
        Algorithm::Ps256,
    ];

    /// The registered JWS name (RFC 7518 / RFC 8037), e.g. `"HS256"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::Hs256 => "HS256",
            Algorithm::Hs384 => "HS384",
            Algorithm::Hs512 => "HS512",
            Algorithm::Es256 => "ES256",
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Rs256 => "RS256",
            Algorithm::Ps256 => "PS256",
        }
    }

    /// Exact, case-sensitive match of a registered name. `none`, `None`, `HS256 `, `hs256` → `None`.
    pub fn from_jws_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.as_str() == name)
    }

    pub const fn is_hmac(self) -> bool {
        matches!(self, Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512)
    }

    /// HMAC: minimum key length = hash output size (RFC 7518 §3.2); also the MAC length.
    pub const fn hmac_len(self) -> Option<usize> {
        match self {
            Algorithm::Hs256 => Some(32),
            Algorithm::Hs384 => Some(48),
            Algorithm::Hs512 => Some(64),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

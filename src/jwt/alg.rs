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
    Es384,
    Es512,
    EdDsa,
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
}

impl Algorithm {
    /// In the order [`from_jws_name`](Self::from_jws_name) tries them: the algorithms of issue 21
    /// last, so a header naming one of the earlier ones is matched after the same comparisons as before.
    pub const ALL: [Algorithm; 13] = [
        Algorithm::Hs256,
        Algorithm::Hs384,
        Algorithm::Hs512,
        Algorithm::Es256,
        Algorithm::EdDsa,
        Algorithm::Rs256,
        Algorithm::Ps256,
        Algorithm::Es384,
        Algorithm::Es512,
        Algorithm::Rs384,
        Algorithm::Rs512,
        Algorithm::Ps384,
        Algorithm::Ps512,
    ];

    /// The registered JWS name (RFC 7518 / RFC 8037), e.g. `"HS256"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::Hs256 => "HS256",
            Algorithm::Hs384 => "HS384",
            Algorithm::Hs512 => "HS512",
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::Es512 => "ES512",
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Rs256 => "RS256",
            Algorithm::Rs384 => "RS384",
            Algorithm::Rs512 => "RS512",
            Algorithm::Ps256 => "PS256",
            Algorithm::Ps384 => "PS384",
            Algorithm::Ps512 => "PS512",
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

    /// ECDSA: the JWK `crv` this algorithm is defined on (RFC 7518 §3.4) and the size in bytes
    /// of one coordinate, and of `r` and of `s` in the JWS signature `r||s`.
    pub const fn ec_curve(self) -> Option<(&'static str, usize)> {
        match self {
            Algorithm::Es256 => Some(("P-256", 32)),
            Algorithm::Es384 => Some(("P-384", 48)),
            Algorithm::Es512 => Some(("P-521", 66)),
            _ => None,
        }
    }

    /// RSA: PKCS#1 v1.5 (`RS*`) or PSS (`PS*`), with the SHA-2 output size in bytes.
    pub const fn rsa(self) -> Option<(RsaPadding, usize)> {
        match self {
            Algorithm::Rs256 => Some((RsaPadding::Pkcs1v15, 32)),
            Algorithm::Rs384 => Some((RsaPadding::Pkcs1v15, 48)),
            Algorithm::Rs512 => Some((RsaPadding::Pkcs1v15, 64)),
            Algorithm::Ps256 => Some((RsaPadding::Pss, 32)),
            Algorithm::Ps384 => Some((RsaPadding::Pss, 48)),
            Algorithm::Ps512 => Some((RsaPadding::Pss, 64)),
            _ => None,
        }
    }
}

/// The two RSA signature schemes of RFC 7518 §3.3 and §3.5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RsaPadding {
    Pkcs1v15,
    /// MGF1 with the same hash, salt as long as the hash output.
    Pss,
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

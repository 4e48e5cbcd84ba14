//! Errors of the JWT phases: token validation ([`JwtError`]) and key loading ([`KeyError`]).
//! Lowercase `Display`, structured variants, no HTTP: the mapping to a status lives elsewhere.

use core::fmt;

use super::Algorithm;
use crate::reason::Reason;

/// Which part of a compact JWS a parse error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment {
    Header,
    Payload,
    Signature,
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Segment::Header => "header",
            Segment::Payload => "payload",
            Segment::Signature => "signature",
        })
    }
}

/// Why a token was refused. Every variant maps to one stable [`Reason`] via [`JwtError::reason`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtError {
    // --- parse ---
    /// The token is longer than the configured maximum.
    TooLarge {
        max: usize,
        actual: usize,
    },
    /// Not exactly three `.`-separated segments.
    SegmentCount {
        actual: usize,
    },
    /// A segment is not canonical unpadded base64url.
    Base64 {
        segment: Segment,
    },
    /// A segment is not a JSON object (or has duplicate keys).
    Json {
        segment: Segment,
        detail: String,
    },
    /// The signature segment is empty (an unsecured JWS).
    SignatureMissing,
    /// A header field has the wrong JSON type, or `alg` is missing.
    HeaderInvalid {
        field: &'static str,
    },
    /// `alg` is `none` (any spelling), empty, or not one this layer implements.
    AlgorithmNotAllowed {
        alg: String,
    },
    /// A header field that is never honoured (`crit`, `jku`, `x5u`, `jwk`, `x5c`, `b64`).
    HeaderForbidden {
        field: String,
    },
    // --- key selection ---
    /// No key of the issuer has this `kid` (or, without a `kid`, none/several keys fit `alg`).
    KeyUnknown {
        kid: Option<String>,
    },
    /// The key selected by `kid` pins another algorithm than the header's `alg`.
    AlgorithmMismatch {
        expected: Algorithm,
        actual: Algorithm,
    },
    /// The selected key cannot be used (bad curve point, broken RSA parameters...).
    KeyUnusable {
        detail: String,
    },
    // --- signature ---
    /// The signature does not verify (or has the wrong length for the key).
    SignatureInvalid,
    /// The verifier cannot handle this algorithm (e.g. [`super::HmacVerifier`] given ES256).
    VerifierUnsupported {
        alg: Algorithm,
    },
    // --- claims ---
    Expired {
        exp: u64,
        now: u64,
    },
    NotYetValid {
        nbf: u64,
        now: u64,
    },
    IssuedInFuture {
        iat: u64,
        now: u64,
    },
    IssuerInvalid,
    AudienceInvalid,
    /// A required claim is missing.
    ClaimMissing {
        claim: &'static str,
    },
    /// A claim has the wrong JSON type or an impossible value.
    ClaimInvalid {
        claim: &'static str,
    },
}

impl JwtError {
    /// The stable reason id used in responses and logs.
    pub fn reason(&self) -> Reason {
        match self {
            JwtError::TooLarge { .. } => Reason::TokenTooLarge,
            JwtError::SegmentCount { .. }
            | JwtError::Base64 { .. }
            | JwtError::Json { .. }
            | JwtError::SignatureMissing
            | JwtError::HeaderInvalid { .. } => Reason::TokenMalformed,
            JwtError::AlgorithmNotAllowed { .. } | JwtError::AlgorithmMismatch { .. } => {
                Reason::TokenAlgorithmNotAllowed
            }
            JwtError::HeaderForbidden { .. } => Reason::TokenHeaderForbidden,
            JwtError::KeyUnknown { .. } | JwtError::KeyUnusable { .. } => Reason::TokenKeyUnknown,
            JwtError::SignatureInvalid => Reason::TokenSignatureInvalid,
            JwtError::VerifierUnsupported { .. } => Reason::Internal,
            JwtError::Expired { .. } => Reason::TokenExpired,
            JwtError::NotYetValid { .. } => Reason::TokenNotYetValid,
            JwtError::IssuedInFuture { .. } => Reason::TokenIssuedInFuture,
            JwtError::IssuerInvalid => Reason::TokenIssuerInvalid,
            JwtError::AudienceInvalid => Reason::TokenAudienceInvalid,
            JwtError::ClaimMissing { .. } | JwtError::ClaimInvalid { .. } => {
                Reason::TokenClaimsInvalid
            }
        }
    }
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtError::TooLarge { max, actual } => {
                write!(f, "token is {actual} bytes, at most {max} are accepted")
            }
            JwtError::SegmentCount { actual } => {
                write!(f, "token has {actual} segments, a compact jws has 3")
            }
            JwtError::Base64 { segment } => {
                write!(f, "token {segment} is not canonical unpadded base64url")
            }
            JwtError::Json { segment, detail } => {
                write!(f, "token {segment} is not a json object: {detail}")
            }
            JwtError::SignatureMissing => f.write_str("token signature is empty"),
            JwtError::HeaderInvalid { field } => {
                write!(
                    f,
                    "token header field `{field}` is missing or has the wrong type"
                )
            }
            JwtError::AlgorithmNotAllowed { alg } => {
                write!(f, "token algorithm {alg:?} is not allowed")
            }
            JwtError::HeaderForbidden { field } => {
                write!(f, "token header field `{field}` is never honoured")
            }
            JwtError::KeyUnknown { kid: Some(kid) } => write!(f, "no key with kid {kid:?}"),
            JwtError::KeyUnknown { kid: None } => {
                write!(f, "token has no kid and no single key fits its algorithm")
            }
            JwtError::AlgorithmMismatch { expected, actual } => write!(
                f,
                "token algorithm {} does not match the key's pinned {}",
                actual.as_str(),
                expected.as_str()
            ),
            JwtError::KeyUnusable { detail } => write!(f, "key cannot be used: {detail}"),
            JwtError::SignatureInvalid => f.write_str("token signature is invalid"),
            JwtError::VerifierUnsupported { alg } => {
                write!(f, "verifier does not support {}", alg.as_str())
            }
            JwtError::Expired { exp, now } => write!(f, "token expired at {exp} (now {now})"),
            JwtError::NotYetValid { nbf, now } => {
                write!(f, "token not valid before {nbf} (now {now})")
            }
            JwtError::IssuedInFuture { iat, now } => {
                write!(f, "token issued in the future at {iat} (now {now})")
            }
            JwtError::IssuerInvalid => f.write_str("token issuer is not the configured one"),
            JwtError::AudienceInvalid => {
                f.write_str("token audience contains no configured audience")
            }
            JwtError::ClaimMissing { claim } => write!(f, "required claim `{claim}` is missing"),
            JwtError::ClaimInvalid { claim } => write!(f, "claim `{claim}` has an invalid value"),
        }
    }
}

impl std::error::Error for JwtError {}

/// Why a JWK / JWKS was refused at load.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// Not JSON, not an object, duplicate keys, or no `keys` array.
    Json {
        detail: String,
    },
    /// A member is missing or has the wrong type/encoding.
    Field {
        kid: Option<String>,
        field: &'static str,
    },
    /// An asymmetric key carries private parts (`d`, `p`, `q`, ...): never accepted.
    PrivatePartsPresent {
        kid: Option<String>,
        field: String,
    },
    /// An HMAC key shorter than its hash output (RFC 7518 §3.2).
    OctTooShort {
        kid: Option<String>,
        min: usize,
        actual: usize,
    },
    /// An RSA modulus outside 2048..=4096 bits, or an unusable exponent.
    RsaKeySize {
        kid: Option<String>,
        bits: usize,
    },
    RsaExponent {
        kid: Option<String>,
    },
    /// The JWK `alg` contradicts its `kty`/`crv` (e.g. an RSA key claiming HS256).
    AlgorithmInconsistent {
        kid: Option<String>,
        alg: String,
    },
    /// Two keys share a `kid`.
    DuplicateKid {
        kid: String,
    },
    /// No key in the set is one this layer can use.
    NoUsableKeys,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Kid<'a>(&'a Option<String>);
        impl fmt::Display for Kid<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.0 {
                    Some(k) => write!(f, "key {k:?}"),
                    None => f.write_str("key without kid"),
                }
            }
        }
        match self {
            KeyError::Json { detail } => write!(f, "jwks is not valid json: {detail}"),
            KeyError::Field { kid, field } => {
                write!(f, "{}: member `{field}` is missing or invalid", Kid(kid))
            }
            KeyError::PrivatePartsPresent { kid, field } => write!(
                f,
                "{}: carries private member `{field}`; publish public keys only",
                Kid(kid)
            ),
            KeyError::OctTooShort { kid, min, actual } => write!(
                f,
                "{}: hmac key is {actual} bytes, at least {min} are required",
                Kid(kid)
            ),
            KeyError::RsaKeySize { kid, bits } => write!(
                f,
                "{}: rsa modulus is {bits} bits, 2048..=4096 are accepted",
                Kid(kid)
            ),
            KeyError::RsaExponent { kid } => {
                write!(f, "{}: rsa public exponent is unusable", Kid(kid))
            }
            KeyError::AlgorithmInconsistent { kid, alg } => {
                write!(f, "{}: alg {alg:?} does not fit the key type", Kid(kid))
            }
            KeyError::DuplicateKid { kid } => write!(f, "two keys share kid {kid:?}"),
            KeyError::NoUsableKeys => f.write_str("jwks holds no usable signing key"),
        }
    }
}

impl std::error::Error for KeyError {}

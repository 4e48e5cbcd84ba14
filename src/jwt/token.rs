//! Strict parsing of a compact JWS into an [`UntrustedToken`]: nothing in it is trusted yet,
//! but everything in it is well-formed.

use serde_json::{Map, Value};

use super::error::Segment;
use super::{b64, json, Algorithm, JwtError};

/// Default cap on the token length, in bytes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Header members that would make us fetch or trust something named by the token itself,
/// or change how the payload is read (RFC 7797 `b64`). Never honoured, so refused.
const FORBIDDEN_HEADERS: [&str; 6] = ["crit", "jku", "x5u", "jwk", "x5c", "b64"];

/// A parsed compact JWS whose signature has not been checked. Only
/// [`validate`](super::validate) turns it into [`VerifiedClaims`](super::VerifiedClaims).
#[derive(Debug, Clone)]
pub struct UntrustedToken<'a> {
    signing_input: &'a str,
    alg: Algorithm,
    kid: Option<String>,
    payload: Map<String, Value>,
    signature: Vec<u8>,
}

impl<'a> UntrustedToken<'a> {
    /// Parses `token` (at most `max_len` bytes; use [`MAX_TOKEN_BYTES`]).
    ///
    /// Checks, in order: length; three segments; header is canonical base64url of a JSON object
    /// without duplicate members; no forbidden header member; `alg` names an implemented
    /// algorithm; `kid` is a string; then the same for the payload, then the signature encoding.
    pub fn parse(token: &'a str, max_len: usize) -> Result<Self, JwtError> {
        if token.len() > max_len {
            return Err(JwtError::TooLarge {
                max: max_len,
                actual: token.len(),
            });
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::SegmentCount {
                actual: token.split('.').count(),
            });
        };

        let header = decode_object(h, Segment::Header)?;
        if let Some(field) = FORBIDDEN_HEADERS.iter().find(|f| header.contains_key(**f)) {
            return Err(JwtError::HeaderForbidden {
                field: (*field).to_owned(),
            });
        }
        let alg = match header.get("alg") {
            Some(Value::String(name)) => Algorithm::from_jws_name(name)
                .ok_or_else(|| JwtError::AlgorithmNotAllowed { alg: name.clone() })?,
            // `"alg": null` is how some libraries spell "unsigned": refuse it as such.
            Some(Value::Null) => {
                return Err(JwtError::AlgorithmNotAllowed {
                    alg: "null".to_owned(),
                })
            }
            _ => return Err(JwtError::HeaderInvalid { field: "alg" }),
        };
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(k)) => Some(k.clone()),
            Some(_) => return Err(JwtError::HeaderInvalid { field: "kid" }),
        };
        if header.get("typ").is_some_and(|t| !t.is_string()) {
            return Err(JwtError::HeaderInvalid { field: "typ" });
        }

        let payload = decode_object(p, Segment::Payload)?;
        let signature = b64::decode(s).ok_or(JwtError::Base64 {
            segment: Segment::Signature,
        })?;
        if signature.is_empty() {
            return Err(JwtError::SignatureMissing);
        }
        Ok(UntrustedToken {
            signing_input: &token[..h.len() + 1 + p.len()],
            alg,
            kid,
            payload,
            signature,
        })
    }

    /// The header's `alg` (already known to be implemented; not yet checked against a key).
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// `iss` as claimed, to pick the issuer's key set. Not trusted until validated.
    pub fn unverified_issuer(&self) -> Option<&str> {
        self.payload.get("iss").and_then(Value::as_str)
    }

    /// `BASE64URL(header) || '.' || BASE64URL(payload)`: the bytes the signature covers.
    pub fn signing_input(&self) -> &'a [u8] {
        self.signing_input.as_bytes()
    }

    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    pub(crate) fn payload(&self) -> &Map<String, Value> {
        &self.payload
    }
}

fn decode_object(segment: &str, which: Segment) -> Result<Map<String, Value>, JwtError> {
    let bytes = b64::decode(segment).ok_or(JwtError::Base64 { segment: which })?;
    json::parse_object(&bytes).map_err(|detail| JwtError::Json {
        segment: which,
        detail,
    })
}

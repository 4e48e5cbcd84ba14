//! Strict parsing of a compact JWS into an [`UntrustedToken`]: nothing in it is trusted yet,
//! but everything in it is well-formed.
//!
//! The three segments are decoded into one buffer and the JSON is scanned in place, without
//! building a tree: the token keeps only where the members it reads later are.

use core::ops::Range;
use std::borrow::Cow;

use super::claims::{OwnedPayload, Payload, PayloadMembers};
use super::error::Segment;
use super::{Algorithm, JwtError};
use crate::b64;
use crate::json::{self, JsonError, Kind, Span};

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
    /// Decoded header, payload and signature, back to back: one allocation per token.
    decoded: Vec<u8>,
    kid: Option<Text>,
    iss: Option<Text>,
    payload: Range<usize>,
    members: PayloadMembers,
    signature_start: usize,
}

/// A string member kept for an accessor: where it is in `decoded`, or its unescaped copy
/// when it was written with escapes.
#[derive(Debug, Clone)]
enum Text {
    At(Range<usize>),
    Unescaped(String),
}

impl Text {
    /// `v` (a span of `decoded[base..]`) if it is a string.
    fn of(decoded: &[u8], base: usize, v: Span) -> Option<Text> {
        match json::string(&decoded[base..], v)? {
            Cow::Borrowed(_) => {
                let r = v.range();
                Some(Text::At(base + r.start..base + r.end))
            }
            Cow::Owned(s) => Some(Text::Unescaped(s)),
        }
    }

    fn get<'s>(&'s self, decoded: &'s [u8]) -> Option<&'s str> {
        match self {
            Text::At(r) => core::str::from_utf8(decoded.get(r.clone())?).ok(),
            Text::Unescaped(s) => Some(s),
        }
    }
}

/// The header members read after the scan.
#[derive(Default)]
struct HeaderMembers {
    alg: Option<Span>,
    kid: Option<Span>,
    typ: Option<Span>,
    /// Bit `i` set: `FORBIDDEN_HEADERS[i]` is present.
    forbidden: u8,
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

        let mut decoded = Vec::with_capacity(
            b64::decode_capacity(h.len())
                + b64::decode_capacity(p.len())
                + b64::decode_capacity(s.len()),
        );
        let base64_err = |segment| JwtError::Base64 { segment };
        b64::decode_url_append(h, &mut decoded).ok_or(base64_err(Segment::Header))?;
        let mut header = HeaderMembers::default();
        json::scan_object(&decoded, |name, v| match name {
            b"alg" => header.alg = Some(v),
            b"kid" => header.kid = Some(v),
            b"typ" => header.typ = Some(v),
            _ => {
                if let Some(i) = FORBIDDEN_HEADERS.iter().position(|f| f.as_bytes() == name) {
                    header.forbidden |= 1 << i;
                }
            }
        })
        .map_err(json_err(Segment::Header))?;

        if header.forbidden != 0 {
            let first = header.forbidden.trailing_zeros() as usize;
            return Err(JwtError::HeaderForbidden {
                field: FORBIDDEN_HEADERS[first].to_owned(),
            });
        }
        let alg = match header.alg {
            Some(v) if v.kind() == Kind::String => {
                let name =
                    json::string(&decoded, v).ok_or(JwtError::HeaderInvalid { field: "alg" })?;
                Algorithm::from_jws_name(&name).ok_or_else(|| JwtError::AlgorithmNotAllowed {
                    alg: name.into_owned(),
                })?
            }
            // `"alg": null` is how some libraries spell "unsigned": refuse it as such.
            Some(v) if v.kind() == Kind::Null => {
                return Err(JwtError::AlgorithmNotAllowed {
                    alg: "null".to_owned(),
                })
            }
            _ => return Err(JwtError::HeaderInvalid { field: "alg" }),
        };
        let kid = match header.kid {
            None => None,
            Some(v) => {
                Some(Text::of(&decoded, 0, v).ok_or(JwtError::HeaderInvalid { field: "kid" })?)
            }
        };
        if header.typ.is_some_and(|t| t.kind() != Kind::String) {
            return Err(JwtError::HeaderInvalid { field: "typ" });
        }

        let payload_start =
            b64::decode_url_append(p, &mut decoded).ok_or(base64_err(Segment::Payload))?;
        let mut members = PayloadMembers::default();
        json::scan_object(&decoded[payload_start..], |name, v| members.note(name, v))
            .map_err(json_err(Segment::Payload))?;
        let iss = members
            .iss
            .and_then(|v| Text::of(&decoded, payload_start, v));

        let signature_start =
            b64::decode_url_append(s, &mut decoded).ok_or(base64_err(Segment::Signature))?;
        if signature_start == decoded.len() {
            return Err(JwtError::SignatureMissing);
        }
        Ok(UntrustedToken {
            signing_input: &token[..h.len() + 1 + p.len()],
            alg,
            decoded,
            kid,
            iss,
            payload: payload_start..signature_start,
            members,
            signature_start,
        })
    }

    /// The header's `alg` (already known to be implemented; not yet checked against a key).
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_ref()?.get(&self.decoded)
    }

    /// `iss` as claimed, to pick the issuer's key set. Not trusted until validated.
    pub fn unverified_issuer(&self) -> Option<&str> {
        self.iss.as_ref()?.get(&self.decoded)
    }

    /// `BASE64URL(header) || '.' || BASE64URL(payload)`: the bytes the signature covers.
    pub fn signing_input(&self) -> &'a [u8] {
        self.signing_input.as_bytes()
    }

    pub fn signature(&self) -> &[u8] {
        &self.decoded[self.signature_start..]
    }

    /// The payload without the token's text (a signature checked later; no copy).
    pub(crate) fn into_payload(self) -> OwnedPayload {
        OwnedPayload {
            decoded: self.decoded,
            at: self.payload,
            members: self.members,
        }
    }

    pub(crate) fn payload(&self) -> Payload<'_> {
        Payload {
            src: &self.decoded[self.payload.clone()],
            members: &self.members,
        }
    }
}

fn json_err(segment: Segment) -> impl Fn(JsonError) -> JwtError {
    move |e| JwtError::Json {
        segment,
        detail: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(header: &str, payload: &str) -> String {
        format!(
            "{}.{}.{}",
            b64::encode_url(header.as_bytes()),
            b64::encode_url(payload.as_bytes()),
            b64::encode_url(b"sig")
        )
    }

    #[test]
    fn members_spelled_with_escapes_are_read_as_their_names() {
        let t = token(
            r#"{"\u0061lg":"HS\u0032\u00356","k\u0069d":"k\u002f1"}"#,
            r#"{"\u0069ss":"https://i\u002eexample","sub":"u"}"#,
        );
        let t = UntrustedToken::parse(&t, MAX_TOKEN_BYTES).unwrap();
        assert_eq!(t.algorithm(), Algorithm::Hs256);
        assert_eq!(t.kid(), Some("k/1"));
        assert_eq!(t.unverified_issuer(), Some("https://i.example"));
        assert_eq!(t.signature(), b"sig");
    }

    #[test]
    fn plain_members_are_borrowed_from_the_decoded_bytes() {
        let t = token(r#"{"alg":"HS256","kid":"k1"}"#, r#"{"iss":"me"}"#);
        let t = UntrustedToken::parse(&t, MAX_TOKEN_BYTES).unwrap();
        assert!(matches!(t.kid, Some(Text::At(_))));
        assert_eq!(t.kid(), Some("k1"));
        assert_eq!(t.unverified_issuer(), Some("me"));
    }

    #[test]
    fn header_errors_come_in_the_documented_order() {
        let parse = |h: &str, p: &str| {
            UntrustedToken::parse(&token(h, p), MAX_TOKEN_BYTES).map(|t| t.algorithm())
        };
        // A repeat anywhere is a json error before any member is looked at.
        assert!(matches!(
            parse(r#"{"jku":"x","alg":"HS256","alg":"HS256"}"#, "{}").unwrap_err(),
            JwtError::Json {
                segment: Segment::Header,
                ..
            }
        ));
        // The forbidden member named is the first in the fixed list, not in the document.
        assert_eq!(
            parse(r#"{"b64":false,"alg":"HS256","crit":["b64"]}"#, "{}").unwrap_err(),
            JwtError::HeaderForbidden {
                field: "crit".into()
            }
        );
        assert_eq!(
            parse(r#"{"alg":null}"#, "{}").unwrap_err(),
            JwtError::AlgorithmNotAllowed { alg: "null".into() }
        );
        assert_eq!(
            parse(r#"{"alg":"none"}"#, "{}").unwrap_err(),
            JwtError::AlgorithmNotAllowed { alg: "none".into() }
        );
        assert_eq!(
            parse(r#"{"alg":["HS256"]}"#, "{}").unwrap_err(),
            JwtError::HeaderInvalid { field: "alg" }
        );
        assert_eq!(
            parse(r#"{"kid":"k"}"#, "{}").unwrap_err(),
            JwtError::HeaderInvalid { field: "alg" }
        );
        assert_eq!(
            parse(r#"{"alg":"HS256","kid":7}"#, "{}").unwrap_err(),
            JwtError::HeaderInvalid { field: "kid" }
        );
        assert_eq!(
            parse(r#"{"alg":"HS256","typ":null}"#, "{}").unwrap_err(),
            JwtError::HeaderInvalid { field: "typ" }
        );
        // Header checks come before the payload is even decoded.
        assert_eq!(
            parse(r#"{"alg":"HS256","typ":1}"#, "not json").unwrap_err(),
            JwtError::HeaderInvalid { field: "typ" }
        );
        assert!(matches!(
            parse(r#"{"alg":"HS256"}"#, r#"{"sub":"a","\u0073ub":"b"}"#).unwrap_err(),
            JwtError::Json {
                segment: Segment::Payload,
                ..
            }
        ));
    }

    #[test]
    fn an_empty_signature_is_missing_and_a_bad_one_is_malformed() {
        let h = b64::encode_url(br#"{"alg":"HS256"}"#);
        let p = b64::encode_url(b"{}");
        assert_eq!(
            UntrustedToken::parse(&format!("{h}.{p}."), MAX_TOKEN_BYTES).unwrap_err(),
            JwtError::SignatureMissing
        );
        assert_eq!(
            UntrustedToken::parse(&format!("{h}.{p}.A"), MAX_TOKEN_BYTES).unwrap_err(),
            JwtError::Base64 {
                segment: Segment::Signature
            }
        );
        assert_eq!(
            UntrustedToken::parse(&format!("{h}.{p}=.AA"), MAX_TOKEN_BYTES).unwrap_err(),
            JwtError::Base64 {
                segment: Segment::Payload
            }
        );
    }
}

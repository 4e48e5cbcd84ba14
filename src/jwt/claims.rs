//! Claim checks on a token whose signature already verified: times, issuer, audience, and
//! the identity claims the edge forwards.

use std::borrow::Cow;

use super::{Claims, IssuerPolicy, JwtError, TimeOptions, VerifiedClaims};
use crate::json::{self, Kind, Span};

/// Where the payload members the checks read are (found while the payload was scanned).
#[derive(Debug, Clone, Default)]
pub(crate) struct PayloadMembers {
    pub(crate) exp: Option<Span>,
    pub(crate) nbf: Option<Span>,
    pub(crate) iat: Option<Span>,
    pub(crate) iss: Option<Span>,
    pub(crate) aud: Option<Span>,
    pub(crate) sub: Option<Span>,
    pub(crate) sid: Option<Span>,
    pub(crate) jti: Option<Span>,
    pub(crate) roles: Option<Span>,
    pub(crate) permissions: Option<Span>,
    pub(crate) scope: Option<Span>,
    pub(crate) auth_time: Option<Span>,
    pub(crate) amr: Option<Span>,
    pub(crate) acr: Option<Span>,
}

impl PayloadMembers {
    /// Remembers a top-level member if a check reads it (unknown claims are ignored).
    pub(crate) fn note(&mut self, name: &[u8], v: Span) {
        let slot = match name {
            b"exp" => &mut self.exp,
            b"nbf" => &mut self.nbf,
            b"iat" => &mut self.iat,
            b"iss" => &mut self.iss,
            b"aud" => &mut self.aud,
            b"sub" => &mut self.sub,
            b"sid" => &mut self.sid,
            b"jti" => &mut self.jti,
            b"roles" => &mut self.roles,
            b"permissions" => &mut self.permissions,
            b"scope" => &mut self.scope,
            b"auth_time" => &mut self.auth_time,
            b"amr" => &mut self.amr,
            b"acr" => &mut self.acr,
            _ => return,
        };
        *slot = Some(v);
    }
}

/// A scanned payload: its decoded JSON and where the checked members are.
#[derive(Clone, Copy)]
pub(crate) struct Payload<'t> {
    pub(crate) src: &'t [u8],
    pub(crate) members: &'t PayloadMembers,
}

/// A payload kept past its token's text (a token waiting for a deferred signature check):
/// the token's decoded bytes and where the payload and its members are in them.
pub(crate) struct OwnedPayload {
    pub(crate) decoded: Vec<u8>,
    pub(crate) at: core::ops::Range<usize>,
    pub(crate) members: PayloadMembers,
}

impl OwnedPayload {
    pub(crate) fn get(&self) -> Payload<'_> {
        Payload {
            src: &self.decoded[self.at.clone()],
            members: &self.members,
        }
    }
}

impl<'t> Payload<'t> {
    fn string(&self, v: Span) -> Option<Cow<'t, str>> {
        json::string(self.src, v)
    }
}

/// A NumericDate (RFC 7519 §2): a non-negative JSON number, fractions rounded down.
fn numeric_date(
    p: Payload<'_>,
    v: Option<Span>,
    claim: &'static str,
) -> Result<Option<u64>, JwtError> {
    let Some(v) = v else { return Ok(None) };
    let text = json::number(p.src, v).ok_or(JwtError::ClaimInvalid { claim })?;
    // Read exactly from its digits: `1700000000`, `1.7e9` and `1700000000.5` are the same
    // second; negative, or 10^15 s (31 million years) and above, is invalid.
    json::number::Decimal::read(text)
        .floor_below(15)
        .map(Some)
        .ok_or(JwtError::ClaimInvalid { claim })
}

fn opt_string(
    p: Payload<'_>,
    v: Option<Span>,
    claim: &'static str,
) -> Result<Option<String>, JwtError> {
    match v {
        None => Ok(None),
        Some(v) => p
            .string(v)
            .map(|s| Some(s.into_owned()))
            .ok_or(JwtError::ClaimInvalid { claim }),
    }
}

fn string_array(
    p: Payload<'_>,
    v: Option<Span>,
    claim: &'static str,
) -> Result<Vec<String>, JwtError> {
    match v {
        None => Ok(Vec::new()),
        Some(v) if v.kind() == Kind::Array => json::items(p.src, v)
            .map(|item| {
                p.string(item)
                    .map(Cow::into_owned)
                    .ok_or(JwtError::ClaimInvalid { claim })
            })
            .collect(),
        Some(_) => Err(JwtError::ClaimInvalid { claim }),
    }
}

/// All claim checks, in a fixed order: times, then `iss`, `aud`, then identity claims.
pub(crate) fn check(
    payload: Payload<'_>,
    issuer: &IssuerPolicy,
    time: &TimeOptions,
) -> Result<VerifiedClaims, JwtError> {
    let m = payload.members;
    let now_ms = time.now.0;
    let now = time.now.secs();
    let leeway_ms = time.leeway_secs.saturating_mul(1000);
    let ms = |secs: u64| secs.saturating_mul(1000);

    let exp =
        numeric_date(payload, m.exp, "exp")?.ok_or(JwtError::ClaimMissing { claim: "exp" })?;
    // RFC 7519 §4.1.4: the current time must be *before* exp.
    if now_ms >= ms(exp).saturating_add(leeway_ms) {
        return Err(JwtError::Expired { exp, now });
    }
    if let Some(nbf) = numeric_date(payload, m.nbf, "nbf")? {
        if now_ms.saturating_add(leeway_ms) < ms(nbf) {
            return Err(JwtError::NotYetValid { nbf, now });
        }
    }
    let iat = numeric_date(payload, m.iat, "iat")?;
    if let Some(iat) = iat {
        if ms(iat) > now_ms.saturating_add(leeway_ms) {
            return Err(JwtError::IssuedInFuture { iat, now });
        }
    }

    if m.iss.and_then(|v| payload.string(v)).as_deref() != Some(issuer.issuer.as_str()) {
        return Err(JwtError::IssuerInvalid);
    }

    let configured = |a: &str| issuer.audiences.iter().any(|c| c == a);
    let audience_ok = match m.aud {
        Some(v) if v.kind() == Kind::String => payload.string(v).is_some_and(|a| configured(&a)),
        // Non-string items are skipped: any configured audience is enough.
        Some(v) if v.kind() == Kind::Array => {
            json::items(payload.src, v).any(|a| payload.string(a).is_some_and(|a| configured(&a)))
        }
        _ => false,
    };
    if !audience_ok {
        return Err(JwtError::AudienceInvalid);
    }

    let subject = match m.sub.map(|v| payload.string(v)) {
        None => return Err(JwtError::ClaimMissing { claim: "sub" }),
        Some(Some(s)) if !s.is_empty() => s.into_owned(),
        Some(_) => return Err(JwtError::ClaimInvalid { claim: "sub" }),
    };
    let session_id = opt_string(payload, m.sid, "sid")?;
    let token_id = opt_string(payload, m.jti, "jti")?;
    let roles = dedup(string_array(payload, m.roles, "roles")?);
    let mut permissions = string_array(payload, m.permissions, "permissions")?;
    if let Some(scope) = m.scope.map(|v| payload.string(v)) {
        let scope = scope.ok_or(JwtError::ClaimInvalid { claim: "scope" })?;
        permissions.extend(
            scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
    }
    let permissions = dedup(permissions);

    // These values become identity headers: only visible ASCII, and list items without the
    // `,` that separates them (a permission "a,rbac:admin" must not become two at the origin).
    if !header_safe(&subject) {
        return Err(JwtError::ClaimInvalid { claim: "sub" });
    }
    if session_id.as_deref().is_some_and(|s| !header_safe(s)) {
        return Err(JwtError::ClaimInvalid { claim: "sid" });
    }
    if roles.iter().any(|r| !list_item_safe(r)) {
        return Err(JwtError::ClaimInvalid { claim: "roles" });
    }
    if permissions.iter().any(|p| !list_item_safe(p)) {
        return Err(JwtError::ClaimInvalid {
            claim: "permissions",
        });
    }

    // Authentication strength (OpenID Connect Core §2, RFC 8176): read leniently — a token whose
    // `auth_time`/`amr`/`acr` is malformed is still valid, it just cannot satisfy a route that
    // requires a recent or a particular authentication (`policy::StepUp`).
    let auth_time = numeric_date(payload, m.auth_time, "auth_time")
        .ok()
        .flatten();
    let amr = string_array(payload, m.amr, "amr").unwrap_or_default();
    let acr = opt_string(payload, m.acr, "acr").ok().flatten();

    Ok(Claims {
        issuer: issuer.issuer.clone(),
        auth_time,
        amr,
        acr,
        subject,
        session_id,
        token_id,
        expires_at: exp,
        issued_at: iat,
        roles,
        permissions,
    }
    .into())
}

/// Visible ASCII only (no spaces, controls or non-ASCII): safe to forward as a header value.
fn header_safe(s: &str) -> bool {
    !s.is_empty() && s.len() <= 256 && s.bytes().all(|b| b.is_ascii_graphic())
}

fn list_item_safe(s: &str) -> bool {
    header_safe(s) && !s.contains(',')
}

/// Removes repeats, keeping first occurrences in order.
fn dedup(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

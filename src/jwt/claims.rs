//! Claim checks on a token whose signature already verified: times, issuer, audience, and
//! the identity claims the edge forwards.

use serde_json::{Map, Value};

use super::{IssuerPolicy, JwtError, TimeOptions, VerifiedClaims};

/// A NumericDate (RFC 7519 §2): a non-negative JSON number, fractions rounded down.
fn numeric_date(
    payload: &Map<String, Value>,
    claim: &'static str,
) -> Result<Option<u64>, JwtError> {
    match payload.get(claim) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(v) = n.as_u64() {
                Ok(Some(v))
            } else {
                match n.as_f64() {
                    Some(f) if (0.0..1e15).contains(&f) => Ok(Some(f as u64)),
                    _ => Err(JwtError::ClaimInvalid { claim }),
                }
            }
        }
        Some(_) => Err(JwtError::ClaimInvalid { claim }),
    }
}

fn opt_string(
    payload: &Map<String, Value>,
    claim: &'static str,
) -> Result<Option<String>, JwtError> {
    match payload.get(claim) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(JwtError::ClaimInvalid { claim }),
    }
}

fn string_array(
    payload: &Map<String, Value>,
    claim: &'static str,
) -> Result<Vec<String>, JwtError> {
    match payload.get(claim) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or(JwtError::ClaimInvalid { claim })
            })
            .collect(),
        Some(_) => Err(JwtError::ClaimInvalid { claim }),
    }
}

/// All claim checks, in a fixed order: times, then `iss`, `aud`, then identity claims.
pub(crate) fn check(
    payload: &Map<String, Value>,
    issuer: &IssuerPolicy,
    time: &TimeOptions,
) -> Result<VerifiedClaims, JwtError> {
    let now_ms = time.now.0;
    let now = time.now.secs();
    let leeway_ms = time.leeway_secs.saturating_mul(1000);
    let ms = |secs: u64| secs.saturating_mul(1000);

    let exp = numeric_date(payload, "exp")?.ok_or(JwtError::ClaimMissing { claim: "exp" })?;
    // RFC 7519 §4.1.4: the current time must be *before* exp.
    if now_ms >= ms(exp).saturating_add(leeway_ms) {
        return Err(JwtError::Expired { exp, now });
    }
    if let Some(nbf) = numeric_date(payload, "nbf")? {
        if now_ms.saturating_add(leeway_ms) < ms(nbf) {
            return Err(JwtError::NotYetValid { nbf, now });
        }
    }
    let iat = numeric_date(payload, "iat")?;
    if let Some(iat) = iat {
        if ms(iat) > now_ms.saturating_add(leeway_ms) {
            return Err(JwtError::IssuedInFuture { iat, now });
        }
    }

    match payload.get("iss") {
        Some(Value::String(iss)) if *iss == issuer.issuer => {}
        _ => return Err(JwtError::IssuerInvalid),
    }

    let audience_ok = match payload.get("aud") {
        Some(Value::String(a)) => issuer.audiences.iter().any(|c| c == a),
        Some(Value::Array(list)) => list.iter().any(|a| {
            a.as_str()
                .is_some_and(|a| issuer.audiences.iter().any(|c| c == a))
        }),
        _ => false,
    };
    if !audience_ok {
        return Err(JwtError::AudienceInvalid);
    }

    let subject = match payload.get("sub") {
        None => return Err(JwtError::ClaimMissing { claim: "sub" }),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err(JwtError::ClaimInvalid { claim: "sub" }),
    };
    let session_id = opt_string(payload, "sid")?;
    let token_id = opt_string(payload, "jti")?;
    let roles = dedup(string_array(payload, "roles")?);
    let mut permissions = string_array(payload, "permissions")?;
    if let Some(scope) = opt_string(payload, "scope")? {
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

    Ok(VerifiedClaims {
        issuer: issuer.issuer.clone(),
        subject,
        session_id,
        token_id,
        expires_at: exp,
        issued_at: iat,
        roles,
        permissions,
    })
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

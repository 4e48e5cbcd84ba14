//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]` over `<t>.<body>`, HMAC-SHA256
//! keyed with the whole secret string (`whsec_...` included, not decoded).

use super::parse::{self, MAX_SIGNATURES, MAX_SIGNATURE_HEADER_LEN};
use super::{
    first_hmac_match, Prepared, VerifiedWebhook, WebhookConfig, WebhookError, WebhookHeaders,
};
use crate::envelope::unhex;
use crate::time::UnixMillis;

pub(crate) const SIGNATURE: &str = "stripe-signature";
pub(crate) const HEADERS: &[&str] = &[SIGNATURE];

struct Header<'a> {
    t: &'a str,
    timestamp: u64,
    /// Decoded `v1` values of the right length (32 bytes).
    v1: Vec<Vec<u8>>,
    /// Whether any `v1` was present at all (a truncated one counts: it fails as invalid).
    any_v1: bool,
}

fn malformed(problem: &'static str) -> WebhookError {
    WebhookError::HeaderMalformed {
        header: SIGNATURE,
        problem,
    }
}

fn parse_header(value: &str) -> Result<Header<'_>, WebhookError> {
    if value.len() > MAX_SIGNATURE_HEADER_LEN {
        return Err(malformed("longer than 4096 bytes"));
    }
    let mut t = None;
    let mut v1 = Vec::new();
    let mut any_v1 = false;
    let mut count = 0;
    for item in value.split(',') {
        let (k, v) = item
            .split_once('=')
            .ok_or(malformed("an element is not key=value"))?;
        match k {
            "t" => {
                if t.is_some() {
                    return Err(malformed("t appears more than once"));
                }
                t = Some((v, parse::timestamp(SIGNATURE, v)?));
            }
            "v1" => {
                count += 1;
                if count > MAX_SIGNATURES {
                    return Err(malformed("more than 16 v1 signatures"));
                }
                any_v1 = true;
                let sig = unhex(v).ok_or(malformed("a v1 signature is not hex"))?;
                if sig.len() == 32 {
                    v1.push(sig);
                }
            }
            // v0 (test-mode legacy) and unknown schemes are ignored: never enough on their own.
            "" => return Err(malformed("an element has an empty key")),
            _ => {}
        }
    }
    let (t, timestamp) = t.ok_or(malformed("no t= timestamp"))?;
    Ok(Header {
        t,
        timestamp,
        v1,
        any_v1,
    })
}

pub(crate) fn verify(
    cfg: &WebhookConfig,
    headers: &WebhookHeaders,
    body: &[u8],
    now: UnixMillis,
) -> Result<Prepared, WebhookError> {
    let value = headers
        .get(SIGNATURE)?
        .ok_or(WebhookError::SignatureMissing { header: SIGNATURE })?;
    let h = parse_header(value)?;
    if !h.any_v1 {
        return Err(WebhookError::NoAcceptedScheme { header: SIGNATURE });
    }
    parse::within_tolerance(h.timestamp, now, cfg.tolerance_secs)?;
    let index = first_hmac_match(cfg, &[h.t.as_bytes(), b".", body], &h.v1)
        .ok_or(WebhookError::SignatureInvalid)?;
    Ok(Prepared::Verified(VerifiedWebhook {
        provider: "stripe",
        // No `id` in the body (not a Stripe event object): the digest still keys the replay window.
        delivery_id: Some(event_id(body).unwrap_or_else(|| super::body_digest_id(body))),
        timestamp: Some(h.timestamp),
        secret_index: index,
    }))
}

/// Stripe puts no delivery id in a header; the event id (`evt_...`) is the body's top-level
/// `id`. Read only after the signature verified, so forgeries cost no JSON parsing.
fn event_id(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Event {
        id: Option<String>,
    }
    serde_json::from_slice::<Event>(body)
        .ok()?
        .id
        .filter(|id| parse::is_valid_id(id))
}

//! GitHub: `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the body with the secret string.
//!
//! GitHub signs no timestamp, so a captured delivery stays valid forever as far as the
//! signature goes: replay defence relies entirely on the delivery id (`X-GitHub-Delivery`,
//! required here) in the edge's [`super::ReplayWindow`] and the origin's unique event store.
//! The legacy `X-Hub-Signature: sha1=...` is never enough and is not even read.

use super::parse::{self, MAX_SIGNATURE_HEADER_LEN};
use super::{
    first_hmac_match, Checked, DeliveryId, Matched, WebhookConfig, WebhookError, WebhookHeaders,
};
use crate::time::UnixMillis;

pub(crate) const SIGNATURE: &str = "x-hub-signature-256";
pub(crate) const DELIVERY: &str = "x-github-delivery";
pub(crate) const HEADERS: &[&str] = &[SIGNATURE, DELIVERY];

pub(crate) fn verify<'h>(
    cfg: &WebhookConfig,
    headers: &'h WebhookHeaders,
    body: &[u8],
    _now: UnixMillis,
) -> Result<Checked<'h>, WebhookError> {
    let value = headers
        .get(SIGNATURE)?
        .ok_or(WebhookError::SignatureMissing { header: SIGNATURE })?;
    let malformed = |problem| WebhookError::HeaderMalformed {
        header: SIGNATURE,
        problem,
    };
    if value.len() > MAX_SIGNATURE_HEADER_LEN {
        return Err(malformed("longer than 4096 bytes"));
    }
    let hex = value
        .strip_prefix("sha256=")
        .ok_or(malformed("does not start with sha256="))?;
    let sig = parse::hex_mac(hex).ok_or(malformed("signature is not hex"))?;
    let delivery = headers
        .get(DELIVERY)?
        .ok_or(WebhookError::HeaderMissing { header: DELIVERY })?;
    parse::delivery_id(DELIVERY, delivery, true)?;
    // A truncated or empty signature is well-formed hex of the wrong length: it fails here.
    let candidates = sig.as_slice();
    let index = first_hmac_match(cfg, &[body], candidates).ok_or(WebhookError::SignatureInvalid)?;
    Ok(Checked::Matched(Matched {
        provider: "github",
        // GitHub does not sign `X-GitHub-Delivery`: a captured body replayed with a fresh id
        // would pass as new. The signed body's digest identifies the delivery instead (GitHub's
        // own redeliveries resend the same body, so they are still recognised as duplicates).
        id: DeliveryId::BodyDigest,
        timestamp: None,
        secret_index: index,
    }))
}

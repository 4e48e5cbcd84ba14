//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]` over `<t>.<body>`, HMAC-SHA256
//! keyed with the whole secret string (`whsec_...` included, not decoded).

use super::parse::{self, Macs, MAX_SIGNATURES, MAX_SIGNATURE_HEADER_LEN};
use super::{
    first_hmac_match, Checked, DeliveryId, Matched, WebhookConfig, WebhookError, WebhookHeaders,
};
use crate::json;
use crate::time::UnixMillis;

pub(crate) const SIGNATURE: &str = "stripe-signature";
pub(crate) const HEADERS: &[&str] = &[SIGNATURE];

struct Header<'a> {
    t: &'a str,
    timestamp: u64,
    /// Decoded `v1` values of the right length (32 bytes).
    v1: Macs,
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
    let mut v1 = Macs::new();
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
                let sig = parse::hex_mac(v).ok_or(malformed("a v1 signature is not hex"))?;
                if let Some(sig) = sig {
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

pub(crate) fn verify<'h>(
    cfg: &WebhookConfig,
    headers: &'h WebhookHeaders,
    body: &[u8],
    now: UnixMillis,
) -> Result<Checked<'h>, WebhookError> {
    let value = headers
        .get(SIGNATURE)?
        .ok_or(WebhookError::SignatureMissing { header: SIGNATURE })?;
    let h = parse_header(value)?;
    if !h.any_v1 {
        return Err(WebhookError::NoAcceptedScheme { header: SIGNATURE });
    }
    parse::within_tolerance(h.timestamp, now, cfg.tolerance_secs)?;
    let index = first_hmac_match(cfg, &[h.t.as_bytes(), b".", body], h.v1.as_slice())
        .ok_or(WebhookError::SignatureInvalid)?;
    Ok(Checked::Matched(Matched {
        provider: "stripe",
        timestamp: Some(h.timestamp),
        secret_index: index,
        // No `id` in the body (not a Stripe event object): the digest still keys the replay window.
        id: DeliveryId::StripeEvent,
    }))
}

/// Stripe puts no delivery id in a header; the event id (`evt_...`) is the body's top-level
/// `id`, which Stripe writes first. Read only after the signature verified, so forgeries cost
/// no JSON scanning, and only up to that member: the body was signed by Stripe, so what
/// follows is not re-validated here (the origin parses it). `None` if the body is not an
/// object with a string `id` of at most 256 visible ASCII characters before anything
/// malformed or repeated.
pub(crate) fn event_id(body: &[u8]) -> Option<String> {
    let v = json::leading_member(body, b"id")?;
    json::string(body, v)
        .filter(|id| parse::is_valid_id(id))
        .map(|id| id.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_id_is_the_top_level_id_read_up_to_that_member() {
        let rows: [(&str, &[u8], Option<&str>); 12] = [
            (
                "a stripe event",
                br#"{"id":"evt_1","object":"event","data":{"id":"pi_1"}}"#,
                Some("evt_1"),
            ),
            (
                "id after other members",
                br#"{"object":"event","data":{"object":{"id":"pi_1"}},"id":"evt_2"}"#,
                Some("evt_2"),
            ),
            (
                "id spelled with an escape",
                br#"{"\u0069d":"evt_3"}"#,
                Some("evt_3"),
            ),
            (
                "only nested ids",
                br#"{"data":{"id":"pi_1"},"items":[{"id":"x"}]}"#,
                None,
            ),
            (
                "a repeated member before the id",
                br#"{"a":1,"a":2,"id":"evt_1"}"#,
                None,
            ),
            (
                "a malformed member before the id",
                br#"{"a":[1,,2],"id":"evt_1"}"#,
                None,
            ),
            ("a body truncated inside the id", br#"{"id":"evt_"#, None),
            ("a numeric id", br#"{"id":42}"#, None),
            ("a null id", br#"{"id":null}"#, None),
            ("an id with a space", br#"{"id":"evt 1"}"#, None),
            ("not json", b"xxxxxxxx", None),
            ("a json array", br#"[{"id":"evt_1"}]"#, None),
        ];
        for (sentence, body, want) in rows {
            assert_eq!(event_id(body).as_deref(), want, "{sentence}");
        }
        let long = format!(r#"{{"id":"{}"}}"#, "e".repeat(257));
        assert_eq!(event_id(long.as_bytes()), None, "an id over 256 bytes");
    }
}

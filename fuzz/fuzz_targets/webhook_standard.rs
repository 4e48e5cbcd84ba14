//! Standard Webhooks' `webhook-id`, `webhook-timestamp` and `webhook-signature`
//! (src/webhook/standard.rs): any headers and body, and deliveries signed with the configured
//! secret then changed at one byte. Properties: a delivery verifies only if one `v1,` entry is
//! the base64 HMAC of `<id>.<timestamp>.<body>` (computed here); a correctly signed delivery
//! verifies; memory bounded by the input. (`v1a` Ed25519 entries are parsed here; no key of
//! that kind is configured, so they must never verify.)
#![no_main]

use edge_auth::time::UnixMillis;
use edge_auth::webhook::{verify_with, DalekEd25519, Provider, WebhookHeaders};
use edge_auth_fuzz::*;
use libfuzzer_sys::fuzz_target;

fn check(id: &str, ts: &str, sig: &str, body: &[u8], must_verify: bool) {
    // Header values arrive trimmed of spaces and tabs (RFC 9110 §5.5, `WebhookHeaders::insert`):
    // the oracle reads them as the verifier does.
    let [id, ts, sig] = [id, ts, sig].map(|v| v.trim_matches([' ', '\t']));
    let cfg = webhook_config(Provider::StandardWebhooks);
    let headers = WebhookHeaders::new()
        .with("webhook-id", id)
        .with("webhook-timestamp", ts)
        .with("webhook-signature", sig);
    let now = ts
        .parse::<u64>()
        .ok()
        .filter(|t| *t < u64::MAX / 1000)
        .unwrap_or(WEBHOOK_NOW);
    let (outcome, peak) = peak_during(|| {
        verify_with(
            &cfg,
            &headers,
            body,
            UnixMillis::from_secs(now),
            &DalekEd25519,
        )
    });
    let len = id.len() + ts.len() + sig.len() + body.len();
    // The signed content is copied once only for Ed25519 (not configured here).
    assert_bounded("standard verify", len, peak, 2, 2048);
    match outcome {
        Ok(v) => {
            let mac = hmac_sha256(
                WEBHOOK_KEY,
                &[id.as_bytes(), b".", ts.as_bytes(), b".", body],
            );
            let want = format!("v1,{}", b64_std(&mac));
            assert!(
                sig.split(' ').any(|e| e == want),
                "verified without a valid MAC: {sig:?}"
            );
            assert_eq!(v.delivery_id(), Some(id));
            assert_eq!(v.timestamp(), ts.parse().ok());
        }
        Err(e) => assert!(
            !must_verify,
            "a correctly signed delivery was refused: {e:?}"
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        // id LF timestamp LF signature LF body
        let f = fields(rest, b'\n', 4);
        check(&text(f[0]), &text(f[1]), &text(f[2]), f[3], false);
    } else {
        // id NUL body NUL (position hi, lo, xor): signed at WEBHOOK_NOW, then one byte changed.
        let f = fields(rest, 0, 3);
        let (id, body, m) = (text(f[0]), f[1], f[2]);
        let ts = WEBHOOK_NOW.to_string();
        let mac = hmac_sha256(
            WEBHOOK_KEY,
            &[id.as_bytes(), b".", ts.as_bytes(), b".", body],
        );
        let sig = format!("v1,{}", b64_std(&mac));
        let mut wire = [id.as_bytes(), b"\n", sig.as_bytes(), b"\n", body].concat();
        let mutated = m.len() >= 3 && mutate(&mut wire, u16::from_be_bytes([m[0], m[1]]), m[2]);
        let f = fields(&wire, b'\n', 3);
        let good_id = !id.is_empty()
            && id.len() <= 256
            && id.bytes().all(|c| (0x21..=0x7e).contains(&c) && c != b'.');
        check(&text(f[0]), &ts, &text(f[1]), f[2], !mutated && good_id);
    }
});

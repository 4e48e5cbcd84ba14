//! Stripe's `Stripe-Signature` header (src/webhook/stripe.rs): any header and body, and
//! deliveries signed with the configured secret then changed at one byte. Properties: a
//! delivery verifies only if one `v1=` element is the HMAC of `<t>.<body>` (computed here); a
//! correctly signed delivery verifies; parsing holds memory bounded by the input.
#![no_main]

use edge_auth::time::UnixMillis;
use edge_auth::webhook::{verify_with, DalekEd25519, Provider, WebhookHeaders};
use edge_auth_fuzz::*;
use libfuzzer_sys::fuzz_target;

fn check(header: &str, body: &[u8], must_verify: bool) {
    // Header values arrive trimmed of spaces and tabs (RFC 9110 §5.5, `WebhookHeaders::insert`):
    // the oracle reads them as the verifier does.
    let header = header.trim_matches([' ', '\t']);
    // The clock at the header's own timestamp, so the MAC check is reached.
    let now = header
        .split(',')
        .find_map(|e| e.strip_prefix("t="))
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|t| *t < u64::MAX / 1000)
        .unwrap_or(WEBHOOK_NOW);
    let cfg = webhook_config(Provider::Stripe);
    let headers = WebhookHeaders::new().with("stripe-signature", header);
    let (outcome, peak) = peak_during(|| {
        verify_with(
            &cfg,
            &headers,
            body,
            UnixMillis::from_secs(now),
            &DalekEd25519,
        )
    });
    // A verified body is scanned for its event id: the scanner keeps one name per member.
    assert_bounded("stripe verify", header.len() + body.len(), peak, 16, 2048);
    match outcome {
        Ok(v) => {
            let t = header
                .split(',')
                .find_map(|e| e.strip_prefix("t="))
                .expect("a t= element");
            let want = format!(
                "v1={}",
                hex(&hmac_sha256(WEBHOOK_KEY, &[t.as_bytes(), b".", body]))
            );
            assert!(
                header.split(',').any(|e| e.eq_ignore_ascii_case(&want)),
                "verified without a valid v1 MAC: {header:?}"
            );
            assert_eq!(v.timestamp(), t.parse().ok());
            assert_delivery_id(v.delivery_id());
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
        // header LF body
        let f = fields(rest, b'\n', 2);
        check(&text(f[0]), f[1], false);
    } else {
        // body NUL suffix-of-header NUL (position hi, lo, xor): signed at WEBHOOK_NOW.
        let f = fields(rest, 0, 3);
        let (body, suffix, m) = (f[0], text(f[1]), f[2]);
        let t = WEBHOOK_NOW.to_string();
        let mac = hex(&hmac_sha256(WEBHOOK_KEY, &[t.as_bytes(), b".", body]));
        let header = format!("t={t},v1={mac}{suffix}");
        let mut wire = [header.as_bytes(), b"\n", body].concat();
        let mutated = m.len() >= 3 && mutate(&mut wire, u16::from_be_bytes([m[0], m[1]]), m[2]);
        let (h, b) = wire.split_at(wire.iter().position(|&c| c == b'\n').unwrap_or(wire.len()));
        let b = b.get(1..).unwrap_or_default();
        check(&text(h), b, !mutated && suffix.is_empty());
    }
});

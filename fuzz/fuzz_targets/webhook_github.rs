//! GitHub's `X-Hub-Signature-256` and `X-GitHub-Delivery` (src/webhook/github.rs): any
//! headers and body, and deliveries signed with the configured secret then changed at one
//! byte. Properties: a delivery verifies only if the header is `sha256=` + the HMAC of the body
//! (computed here); a correctly signed delivery verifies; memory bounded by the input.
#![no_main]

use edge_auth::time::UnixMillis;
use edge_auth::webhook::{verify_with, DalekEd25519, Provider, WebhookHeaders};
use edge_auth_fuzz::*;
use libfuzzer_sys::fuzz_target;

fn check(sig: &str, delivery: &str, body: &[u8], must_verify: bool) {
    // Header values arrive trimmed of spaces and tabs (RFC 9110 §5.5, `WebhookHeaders::insert`):
    // the oracle reads them as the verifier does.
    let (sig, delivery) = (
        sig.trim_matches([' ', '\t']),
        delivery.trim_matches([' ', '\t']),
    );
    let cfg = webhook_config(Provider::GitHub);
    let headers = WebhookHeaders::new()
        .with("x-hub-signature-256", sig)
        .with("x-github-delivery", delivery);
    let now = UnixMillis::from_secs(WEBHOOK_NOW);
    let (outcome, peak) = peak_during(|| verify_with(&cfg, &headers, body, now, &DalekEd25519));
    assert_bounded(
        "github verify",
        sig.len() + delivery.len() + body.len(),
        peak,
        2,
        2048,
    );
    match outcome {
        Ok(v) => {
            let want = format!("sha256={}", hex(&hmac_sha256(WEBHOOK_KEY, &[body])));
            assert!(
                sig.eq_ignore_ascii_case(&want),
                "verified without a valid MAC: {sig:?}"
            );
            assert!(sig.starts_with("sha256="));
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
        // signature LF delivery LF body
        let f = fields(rest, b'\n', 3);
        check(&text(f[0]), &text(f[1]), f[2], false);
    } else {
        // body NUL delivery NUL (position hi, lo, xor): signed, then one byte changed.
        let f = fields(rest, 0, 3);
        let (body, delivery, m) = (f[0], text(f[1]), f[2]);
        let sig = format!("sha256={}", hex(&hmac_sha256(WEBHOOK_KEY, &[body])));
        let mut wire = [sig.as_bytes(), b"\n", body].concat();
        let mutated = m.len() >= 3 && mutate(&mut wire, u16::from_be_bytes([m[0], m[1]]), m[2]);
        let (s, b) = wire.split_at(wire.iter().position(|&c| c == b'\n').unwrap_or(wire.len()));
        let b = b.get(1..).unwrap_or_default();
        let good_id = !delivery.is_empty()
            && delivery.len() <= 256
            && delivery.bytes().all(|c| (0x21..=0x7e).contains(&c));
        check(&text(s), &delivery, b, !mutated && good_id);
    }
});

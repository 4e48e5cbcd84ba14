//! The identity envelope (src/envelope.rs): the edge signs `x-auth-*` headers, the origin
//! verifies them (origin/src/http/envelope.rs calls this same `envelope::verify` after its
//! non-ASCII check; the origin crate, axum and sqlx, is not linked here). Input: a request
//! (method, path, headers), signed with a known key, then changed at one byte. Properties: a
//! signed request verifies and reads back its identity headers; a changed request verifies
//! only if what it carries is what was signed (header-name case and `_` folded, unsigned
//! headers ignored); every acceptance carries the HMAC of the canonical text, computed here;
//! a request with a signature not made by the key is refused; memory bounded by the input.
#![no_main]

use edge_auth::envelope::{self, EnvelopeKey, VerifiedEnvelope};
use edge_auth::secret::SecretBytes;
use edge_auth::time::UnixMillis;
use edge_auth_fuzz::*;
use libfuzzer_sys::fuzz_target;

const KEY: &[u8] = b"fuzz-envelope-key-0123456789abcdef";
const NOW: u64 = 1_700_000_000;

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

/// method LF path LF then `name:value` lines.
fn read(wire: &[u8]) -> Request {
    let f = fields(wire, b'\n', 3);
    let headers = text(f[2])
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once(':') {
            Some((n, v)) => (n.to_owned(), v.to_owned()),
            None => (l.to_owned(), String::new()),
        })
        .collect();
    Request {
        method: text(f[0]),
        path: text(f[1]),
        headers,
    }
}

fn write(r: &Request) -> Vec<u8> {
    let mut out = format!("{}\n{}\n", r.method, r.path);
    for (n, v) in &r.headers {
        out.push_str(&format!("{n}:{v}\n"));
    }
    out.into_bytes()
}

fn verify(key: &EnvelopeKey, r: &Request) -> Result<VerifiedEnvelope, envelope::EnvelopeError> {
    let pairs: Vec<(&str, &str)> = r
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let len = write(r).len();
    let (out, peak) = peak_during(|| {
        envelope::verify(
            key,
            UnixMillis::from_secs(NOW),
            60,
            &r.method,
            &r.path,
            pairs.iter().copied(),
        )
    });
    // Normalized header list (40 bytes per header) and the verified copy (48 + text per header).
    assert_bounded("envelope verify", len, peak, 32, 4096);
    out
}

/// The independent oracle: HMAC over the documented canonical text of what was verified.
fn assert_mac(r: &Request, v: &VerifiedEnvelope) {
    let mut canonical = format!(
        "edge-auth-envelope-v1\n{}\n{}\n{}\n",
        v.signed_at, r.method, r.path
    );
    for (n, val) in &v.headers {
        canonical.push_str(&format!("{n}:{val}\n"));
    }
    let want = format!(
        "t={},v1={}",
        v.signed_at,
        hex(&hmac_sha256(KEY, &[canonical.as_bytes()]))
    );
    let sig: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(envelope::SIGNATURE_HEADER))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        sig,
        [want.as_str()],
        "accepted without the MAC of what it carries"
    );
}

fuzz_target!(|data: &[u8]| {
    let key = EnvelopeKey::new(SecretBytes::new(KEY.to_vec(), 32).unwrap()).unwrap();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        // Any request, its own signature header included: never signed by KEY.
        let r = read(rest);
        if let Ok(v) = verify(&key, &r) {
            assert_mac(&r, &v);
        }
        return;
    }
    // request NUL (position hi, lo, xor)
    let f = fields(rest, 0, 2);
    let mut r = read(f[0]);
    r.headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case(envelope::SIGNATURE_HEADER));
    let pairs: Vec<(&str, &str)> = r
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let Ok(sig) = envelope::sign(
        &key,
        UnixMillis::from_secs(NOW),
        &r.method,
        &r.path,
        pairs.iter().copied(),
    ) else {
        return;
    };
    r.headers.push((envelope::SIGNATURE_HEADER.to_owned(), sig));
    let signed = verify(&key, &r).expect("a request the edge signed verifies");
    assert_mac(&r, &signed);
    for (n, v) in &signed.headers {
        assert!(envelope::is_identity_header(n) || envelope::SIGNED_CONTEXT.contains(&n.as_str()));
        assert!(
            r.headers
                .iter()
                .any(|(n2, v2)| n2.eq_ignore_ascii_case(n) && v2 == v)
                || r.headers
                    .iter()
                    .any(|(n2, v2)| n2.replace('_', "-").eq_ignore_ascii_case(n) && v2 == v)
        );
    }
    let m = f[1];
    if m.len() < 3 {
        return;
    }
    let mut wire = write(&r);
    if !mutate(&mut wire, u16::from_be_bytes([m[0], m[1]]), m[2]) {
        return;
    }
    let changed = read(&wire);
    if let Ok(v) = verify(&key, &changed) {
        assert_eq!(changed.method, r.method, "a changed method verified");
        assert_eq!(changed.path, r.path, "a changed path verified");
        assert_eq!(v, signed, "changed identity headers verified");
        assert_mac(&changed, &v);
    }
});

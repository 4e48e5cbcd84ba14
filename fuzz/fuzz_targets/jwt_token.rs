//! The compact JWS parser and the header/claims reader (src/jwt/): any text, and tokens signed
//! with a known HS256 key then mutated at one byte. Properties: parsing holds memory bounded by
//! the token; a token only validates if its signature is the HMAC of its signing input under
//! the key (checked independently); a signed token changed at any byte never validates; the
//! claims read from a validated token are what serde_json reads from its payload.
#![no_main]

use edge_auth::jwt::{
    validate_with, Algorithm, HmacVerifier, IssuerPolicy, Jwk, KeySet, SignatureVerdict,
    TimeOptions, UntrustedToken, Validation, MAX_TOKEN_BYTES,
};
use edge_auth::time::UnixMillis;
use edge_auth_fuzz::{assert_bounded, b64url, fields, hmac_sha256, mutate, peak_during, text};
use libfuzzer_sys::fuzz_target;

const KEY: &[u8] = b"fuzz-hs256-key-0123456789abcdef-";
const NOW_SECS: u64 = 1_700_000_000;
const ISSUER: &str = "https://issuer.example";

fn check(token: &str, signed: Option<&str>) {
    let (parsed, peak) = peak_during(|| UntrustedToken::parse(token, MAX_TOKEN_BYTES));
    // One buffer for the decoded segments (3/4 of the text), escaped members' copies, and the
    // scanner's list of member names (24 bytes per name, a name every 8 characters at least).
    assert_bounded("jwt parse", token.len(), peak, 8, 2048);
    let Ok(parsed) = parsed else { return };
    let signing_input = parsed.signing_input();
    assert!(token.starts_with(std::str::from_utf8(signing_input).unwrap()));
    assert_eq!(token.as_bytes().get(signing_input.len()), Some(&b'.'));

    let keys = KeySet::new(vec![Jwk::hmac(None, Algorithm::Hs256, KEY).unwrap()]).unwrap();
    let issuer = IssuerPolicy {
        issuer: ISSUER.to_owned(),
        audiences: vec!["api".to_owned()],
    };
    let time = TimeOptions::new(UnixMillis::from_secs(NOW_SECS));
    let sig = parsed.signature().to_vec();
    let input = signing_input.to_vec();
    let outcome = validate_with(parsed, &keys, &issuer, &time, |c| {
        SignatureVerdict::Checked(HmacVerifier.verify_sync(c))
    });
    let Ok(outcome) = outcome else { return };
    let Validation::Verified(claims) = outcome else {
        panic!("an HMAC check was deferred")
    };
    // No acceptance without the MAC, computed here independently.
    assert_eq!(
        sig,
        hmac_sha256(KEY, &[&input]),
        "validated without a valid MAC"
    );
    if let Some(signed) = signed {
        assert_eq!(token, signed, "a mutated token validated");
    }
    // The claims reader agrees with serde_json on the payload it validated.
    let payload_b64 = token.split('.').nth(1).unwrap();
    use base64::Engine;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload_b64)
        .expect("a validated payload is base64url");
    let doc: serde_json::Value =
        serde_json::from_slice(&payload).expect("a validated payload is json");
    assert_eq!(doc["iss"].as_str(), Some(claims.issuer()));
    assert_eq!(doc["sub"].as_str(), Some(claims.subject()));
    assert!(
        claims.expires_at() + time.leeway_secs >= NOW_SECS,
        "expired token validated"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        // Any text as a token.
        check(&text(rest), None);
    } else {
        // header NUL payload NUL (position hi, lo, xor): signed with KEY, then one byte changed.
        let f = fields(rest, 0, 3);
        let signing_input = format!("{}.{}", b64url(f[0]), b64url(f[1]));
        let sig = hmac_sha256(KEY, &[signing_input.as_bytes()]);
        let signed = format!("{signing_input}.{}", b64url(&sig));
        let mut token = signed.clone().into_bytes();
        let m = f[2];
        if m.len() >= 3 {
            mutate(&mut token, u16::from_be_bytes([m[0], m[1]]), m[2]);
        }
        check(&text(&token), Some(&signed));
    }
});

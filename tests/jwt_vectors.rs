//! Published vectors (RFC 7515, RFC 7797, RFC 8037, jwt.io) from `tests/vectors/jwt/*.json`,
//! run through the HMAC and the native verifier. The wasm WebCrypto path reuses the same files.
//! `gen_*.json` (ES384, ES512, RS384, RS512, PS384, PS512) are made by PyJWT + cryptography
//! (tests/gen/jwt/generate.py) and also carry negatives: tampered tokens and unsafe keys.

#[path = "jwt_support.rs"]
mod support;

use std::path::PathBuf;

use edge_auth::jwt::{
    select_key, HmacVerifier, IssuerPolicy, Jwk, JwtError, KeyError, KeySet, NativeVerifier,
    SignatureCheck, SignatureVerifier, TimeOptions, UntrustedToken, MAX_TOKEN_BYTES,
};
use edge_auth::time::UnixMillis;
use serde_json::Value;
use support::{block_on, outcome, unb64};

fn vectors() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/jwt");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .expect("vector dir")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let v: Value = serde_json::from_str(&text).unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        out.len() >= 10,
        "expected the published vectors, found {}",
        out.len()
    );
    out
}

fn key_error_kind(e: &KeyError) -> &'static str {
    match e {
        KeyError::OctTooShort { .. } => "oct_too_short",
        KeyError::NoUsableKeys => "no_usable_keys",
        KeyError::PrivatePartsPresent { .. } => "private_parts_present",
        KeyError::AlgorithmInconsistent { .. } => "algorithm_inconsistent",
        KeyError::Field { .. } => "field",
        KeyError::RsaKeySize { .. } => "rsa_key_size",
        _ => "other",
    }
}

fn load(jwk: &Value) -> Result<KeySet, KeyError> {
    KeySet::from_jwks_json(&serde_json::json!({ "keys": [jwk] }).to_string())
}

/// Verifies the signature directly (bypassing JSON parsing of the payload).
fn raw_signature_check<V: SignatureVerifier>(
    v: &V,
    key: &Jwk,
    token: &str,
) -> Result<(), JwtError> {
    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig = unb64(sig);
    block_on(v.verify(&SignatureCheck {
        key,
        alg: key.algorithm(),
        signing_input: input.as_bytes(),
        signature: &sig,
    }))
}

#[test]
fn every_vector_file_names_its_source() {
    for (name, v) in vectors() {
        let source = v["source"].as_str().unwrap_or_default();
        assert!(source.len() > 10, "{name}: missing source");
    }
}

#[test]
fn keys_load_or_are_refused_as_the_vector_says() {
    for (name, v) in vectors() {
        let got = match load(&v["jwk"]) {
            Ok(_) => "ok",
            Err(e) => key_error_kind(&e),
        };
        assert_eq!(got, v["key_load"].as_str().unwrap(), "{name}");
        if let Some(published) = v.get("jwk_as_published") {
            let err = load(published).expect_err(&format!("{name}: private jwk must be refused"));
            assert_eq!(key_error_kind(&err), "private_parts_present", "{name}");
        }
    }
}

#[test]
fn published_signatures_verify_with_both_verifier_paths() {
    let mut verified = 0;
    for (name, v) in vectors() {
        let Some(expect) = v["signature_verifies"].as_bool() else {
            continue;
        };
        let set = load(&v["jwk"]).unwrap();
        let key = &set.keys()[0];
        assert_eq!(
            key.algorithm().as_str(),
            v["alg"].as_str().unwrap(),
            "{name}"
        );
        let token = v["token"].as_str().unwrap();

        let native = raw_signature_check(&NativeVerifier, key, token);
        assert_eq!(native.is_ok(), expect, "{name}: native {native:?}");
        let hmac = raw_signature_check(&HmacVerifier, key, token);
        if key.algorithm().is_hmac() {
            assert_eq!(hmac.is_ok(), expect, "{name}: hmac {hmac:?}");
        } else {
            assert!(
                matches!(hmac, Err(JwtError::VerifierUnsupported { .. })),
                "{name}: the hmac verifier must refuse {}",
                key.algorithm()
            );
        }

        // Same signature with its last byte changed: refused by both paths.
        let (input, sig) = token.rsplit_once('.').unwrap();
        let mut bad = unb64(sig);
        *bad.last_mut().unwrap() ^= 1;
        let tampered = format!("{input}.{}", support::b64(&bad));
        assert!(
            raw_signature_check(&NativeVerifier, key, &tampered).is_err(),
            "{name}"
        );
        if key.algorithm().is_hmac() {
            assert!(
                raw_signature_check(&HmacVerifier, key, &tampered).is_err(),
                "{name}"
            );
        }
        verified += 1;
    }
    assert!(verified >= 6, "only {verified} vectors verified");
}

#[test]
fn vectors_parse_or_are_refused_with_the_expected_reason() {
    for (name, v) in vectors() {
        let token = v["token"].as_str().unwrap();
        let got = match UntrustedToken::parse(token, MAX_TOKEN_BYTES) {
            Ok(_) => "ok",
            Err(e) => e.reason().id(),
        };
        assert_eq!(got, v["parse"].as_str().unwrap(), "{name}");
    }
}

#[test]
fn vector_claims_are_judged_with_a_fixed_clock() {
    let mut checked = 0;
    for (name, v) in vectors() {
        let token = v["token"].as_str().unwrap();
        let Ok(set) = load(&v["jwk"]) else { continue };
        let Ok(parsed) = UntrustedToken::parse(token, MAX_TOKEN_BYTES) else {
            continue;
        };
        assert!(select_key(&parsed, &set).is_ok(), "{name}");
        for c in v["checks"].as_array().unwrap() {
            let sentence = c["sentence"].as_str().unwrap();
            let issuer = IssuerPolicy {
                issuer: c["issuer"].as_str().unwrap().to_owned(),
                audiences: serde_json::from_value(c["audiences"].clone()).unwrap(),
            };
            let time = TimeOptions::new(UnixMillis::from_secs(c["now"].as_u64().unwrap()));
            let expect = c["expect"].as_str().unwrap();
            let native = support::check_with(token, &set, &issuer, &time, &NativeVerifier);
            assert_eq!(outcome(&native), expect, "{name}: {sentence}");
            if set.keys()[0].algorithm().is_hmac() {
                let hmac = support::check_with(token, &set, &issuer, &time, &HmacVerifier);
                assert_eq!(outcome(&hmac), expect, "{name}: {sentence} (hmac path)");
            }
            checked += 1;
        }
    }
    assert!(checked >= 13, "only {checked} checks ran");
}

/// The generated vectors' negatives: each tampered token refused with its reason, natively and
/// through the deferred (WebCrypto-shaped) driver, at a time the untampered token is valid.
#[test]
fn generated_vector_negatives_are_refused_with_their_reason() {
    let mut ran = 0;
    let mut failures = Vec::new();
    for (name, v) in vectors() {
        let Some(negatives) = v.get("negatives").and_then(Value::as_array) else {
            continue;
        };
        let set = load(&v["jwk"]).unwrap();
        let issuer = IssuerPolicy {
            issuer: "https://vectors.edge-auth.test".to_owned(),
            audiences: vec!["edge-api".to_owned()],
        };
        let time = TimeOptions::new(UnixMillis::from_secs(1_893_456_000));
        let token = v["token"].as_str().unwrap();
        let good = support::check_with(token, &set, &issuer, &time, &NativeVerifier);
        assert_eq!(outcome(&good), "ok", "{name}: the untampered token");
        for n in negatives {
            let (sentence, token) = (
                n["sentence"].as_str().unwrap(),
                n["token"].as_str().unwrap(),
            );
            let expect = n["expect"].as_str().unwrap();
            let native = support::check_with(token, &set, &issuer, &time, &NativeVerifier);
            if outcome(&native) != expect {
                failures.push(format!(
                    "{name}: {sentence}: expected {expect}, got {}",
                    outcome(&native)
                ));
            }
            let deferred = deferred_check(token, &set, &issuer, &time);
            if outcome(&deferred) != expect {
                failures.push(format!(
                    "{name}: {sentence} (deferred): expected {expect}, got {}",
                    outcome(&deferred)
                ));
            }
            ran += 1;
        }
        for k in v["key_negatives"].as_array().unwrap() {
            let sentence = k["sentence"].as_str().unwrap();
            let got = match load(&k["jwk"]) {
                Ok(_) => "ok",
                Err(e) => key_error_kind(&e),
            };
            if got != k["expect"].as_str().unwrap() {
                failures.push(format!(
                    "{name}: key {sentence}: expected {}, got {got}",
                    k["expect"]
                ));
            }
            ran += 1;
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert!(ran >= 6 * 10, "only {ran} generated negatives ran");
}

/// Every added algorithm has a generated vector, and each verifies natively.
#[test]
fn each_added_algorithm_has_a_generated_vector() {
    let names: Vec<String> = vectors().into_iter().map(|(n, _)| n).collect();
    for alg in ["es384", "es512", "rs384", "rs512", "ps384", "ps512"] {
        assert!(
            names.contains(&format!("gen_{alg}.json")),
            "no tests/vectors/jwt/gen_{alg}.json (run tests/gen/jwt/generate.py)"
        );
    }
}

fn deferred_check(
    token: &str,
    keys: &KeySet,
    issuer: &IssuerPolicy,
    time: &TimeOptions,
) -> Result<edge_auth::jwt::VerifiedClaims, JwtError> {
    use edge_auth::jwt::{validate_with, SignatureVerdict, Validation};
    let t = UntrustedToken::parse(token, MAX_TOKEN_BYTES)?;
    let mut verified = false;
    match validate_with(t, keys, issuer, time, |check| {
        verified = support::block_on(NativeVerifier.verify(check)).is_ok();
        SignatureVerdict::Deferred
    })? {
        Validation::Awaiting(a) => a.finish(verified, issuer, time),
        Validation::Verified(_) => panic!("an asymmetric signature is never checked inline"),
    }
}

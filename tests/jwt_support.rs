//! Shared helpers for the `jwt_*` integration tests: a tiny executor, throwaway keys generated
//! per test run, and hand-assembled tokens (so headers/payloads can be made wrong on purpose).
//! Included with `#[path]` by the test files; compiled alone it holds no tests.
#![allow(dead_code)]

use std::future::Future;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use edge_auth::jwt::{
    validate, validate_with, Algorithm, IssuerPolicy, JwtError, KeySet, NativeVerifier,
    SignatureVerdict, SignatureVerifier, TimeOptions, UntrustedToken, Validation, VerifiedClaims,
    MAX_TOKEN_BYTES,
};
use edge_auth::time::UnixMillis;
use hmac::{Hmac, Mac};
use jwt_compact::alg::{Ed25519, Es256, Rsa, RsaPrivateKey, SigningKey as _};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm as _, AlgorithmSignature as _};
use rand_core::{OsRng, RngCore};
use serde_json::{json, Value};
use sha2::{Sha256, Sha384, Sha512};

/// The verifiers here complete immediately; anything else is a bug in the test.
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("verifier future was not ready"),
    }
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("test base64")
}

pub const ISSUER: &str = "https://auth.test.invalid";
pub const AUDIENCE: &str = "edge-api";
/// A fixed "now" for minted tokens: 2030-01-01T00:00:00Z.
pub const NOW: u64 = 1_893_456_000;

pub fn policy() -> IssuerPolicy {
    IssuerPolicy {
        issuer: ISSUER.to_owned(),
        audiences: vec!["other-api".to_owned(), AUDIENCE.to_owned()],
    }
}

pub fn at(secs: u64) -> TimeOptions {
    TimeOptions::new(UnixMillis::from_secs(secs))
}

/// Good claims for `NOW`: valid for 10 minutes.
pub fn claims() -> Value {
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "user-42",
        "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 600,
    })
}

/// A private signing key generated for this test run, with its public JWK.
pub enum Signer {
    Hmac(Algorithm, Vec<u8>),
    Es256(<Es256 as jwt_compact::Algorithm>::SigningKey),
    /// ES384/ES512 with RustCrypto's curves (jwt-compact has ES256 only).
    Es384(p384::ecdsa::SigningKey),
    Es512(p521::ecdsa::SigningKey),
    EdDsa(<Ed25519 as jwt_compact::Algorithm>::SigningKey),
    Rsa(Algorithm, RsaPrivateKey),
}

pub struct TestKey {
    pub signer: Signer,
    /// Public JWK (secret `k` for HMAC) with `kid` and `alg`.
    pub jwk: Value,
}

fn random(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    OsRng.fill_bytes(&mut v);
    v
}

/// A throwaway RSA key made for these tests only (`openssl genrsa 2048`, never configured
/// anywhere). Generating RSA keys per run takes about a minute in debug builds; the other
/// algorithms' keys are generated fresh on every run.
const TEST_ONLY_RSA_PRIVATE_JWK: &str = r#"{"kty": "RSA", "n": "1oOaxq7aOhohhD0zZ5XfKUd4l90FjVNDcRMasTHlCmppEs9cXhj7BgOq6tp99KrW8kM-NYB9WHXhDu2ekpKmA1KN8MLcD_HRCNy-fzpzvjYF3ojrHhnq_EZbG_v3P6_4JaUYgRG7HarnPPjJKIrkQQZ8kKlj1vMTHDmp67dzBGpvEPiUtiRfjiXqXVnTr8qrQT8db-9Vaj9wQ7Tm7NxVSo_b7fO2jOgcyFhOX8l1KpY2DrlpSOzRuMbXS4y8b9j5NoCmibjQ8eRkpXQOrais_SPeKFNYIAhzwR7xUfDLggt1JthJQToR0Y1r6YY0f1r91JMbkPPDTqiUCzJLgRgNXQ", "e": "AQAB", "d": "GaYKr47gkOnm8ATRTKVi1XCyPpYyv78g5Tg_jMhGdoRao-EfTjD2crWljgcp4EM9CCJ6IbOHSThu_HX069mU9_i69_qUjWOAdurN7DB0_l0_PmholGTM7_UJl8L8wSStKvMehvAzy0xP8b5dbveMayn3YuSeB2lw84MBiimZGwHW08EGBJLTV7fOtQYt81kfMZ7_3v26LV_jIm0lXAMRkq1PRgqwvgQCeGDAuwFIvQ4WyX-l7-xdUbv0_vO0SGfcQefnuIT1e_Y_GArCt-20XdaFCozU-0BxwWU0ekWXFzbkOUNUr2WyoZa1_kkHH_ZZx4Esj47RHnR5xs4CShCogQ", "p": "6srSc5TlkUMnwfFJvrVqpfrM_0ezb-ZDKI8Fn5eXaIKD4MjDSpKs7G46aF5M8Z6xMJjY7r_N0ShffADYt_lMmiLOe89GZ1hGTecuDT2kVmmnWosXd9BolQnCvS4KYZI6DKmh3g03-e_AglwrWMzTq9dLl8zQB3SaYIL2e9u5HMU", "q": "6ePiHlVb0bz4-3D_6UgHVlZRI1G81qXDjH99PFF3Lz1u11xFgDWqYXmBTxRed1EgnbcBjxDztPaNjmxDygvHaqZP-VFb3sn6P5IskE_8nlVzRcSjQi_Sq9Jx1c6hPXrLrTie5fPEWLjapbJ_7MiyIEVRUEE4OnAnSLnEmKCzZ7k", "dp": "cfOT5jKqpDCimBcCAoPLydiKK49h__oSOBoJ0aXh_v_w_2SQm53KPUlWIZc64r1xI7Pa_SyruEpO5UEH7WoaCmjALAiyE7AdFuwPRq_XFXVbmq8M6cKFL2g4UlaJBUfR0pl1jO5_b1cz6FDRXNy0Ep9_-aGWiTfHQPXuqLhABD0", "dq": "avCb-byTj_F0chr3l6UsXah3zstXqVj_cST1kPe6o-nV3Tg-OuHOtmTE3_BzRODeJd6AIvbgRzSYAq-zyxTZqATE-jzd4Z6-AgUGxTEdUxPE8fh3oRKWo6NEEzs39BFKQThrRr7PXrWemzZjUVNuRl0LUcOQPv_6pkDyB8sqXFk", "qi": "lywkwmP0UeCSAcD4V_OFQj8HhYc0k29Xx3C5nkxHiVfunFKQzYhh4KRknvMuCJlw0A9uW3685KnFBw7zmIAyRqkmr3Q5MJzRo0Kk21MU0mfKChxfoVelv1mCJUUPG03gz6e0zlq-A3ix5Pwdo3zC2zhpv3zVjPycP8pyOTiPa_Y"}"#;

fn rsa_private() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let jwk: JsonWebKey<'_> = serde_json::from_str(TEST_ONLY_RSA_PRIVATE_JWK).unwrap();
        RsaPrivateKey::try_from(&jwk).expect("test rsa key")
    })
}

impl TestKey {
    pub fn new(alg: Algorithm, kid: &str) -> TestKey {
        let (signer, mut jwk) = match alg {
            Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512 => {
                let secret = random(alg.hmac_len().unwrap());
                let jwk = json!({"kty": "oct", "k": b64(&secret)});
                (Signer::Hmac(alg, secret), jwk)
            }
            Algorithm::Es256 => {
                let sk = <Es256 as jwt_compact::Algorithm>::SigningKey::from_slice(&random(32))
                    .expect("p256 scalar");
                let vk = sk.verifying_key();
                let jwk = serde_json::to_value(JsonWebKey::from(vk)).unwrap();
                (Signer::Es256(sk), jwk)
            }
            Algorithm::EdDsa => {
                let sk = <Ed25519 as jwt_compact::Algorithm>::SigningKey::from_slice(&random(32))
                    .expect("ed25519 seed");
                let vk = sk.verifying_key();
                let jwk = serde_json::to_value(JsonWebKey::from(&vk)).unwrap();
                (Signer::EdDsa(sk), jwk)
            }
            Algorithm::Es384 => {
                let sk = p384::ecdsa::SigningKey::from_slice(&random(48)).expect("p384 scalar");
                let point = sk.verifying_key().to_encoded_point(false);
                let jwk = ec_jwk("P-384", point.x().unwrap(), point.y().unwrap());
                (Signer::Es384(sk), jwk)
            }
            Algorithm::Es512 => {
                // A uniformly random 66-byte string is mostly above the P-521 order: clear the top bits.
                let mut d = random(66);
                d[0] &= 0x01;
                let sk = p521::ecdsa::SigningKey::from_slice(&d).expect("p521 scalar");
                let point = p521::ecdsa::VerifyingKey::from(&sk).to_encoded_point(false);
                let jwk = ec_jwk("P-521", point.x().unwrap(), point.y().unwrap());
                (Signer::Es512(sk), jwk)
            }
            Algorithm::Rs256
            | Algorithm::Rs384
            | Algorithm::Rs512
            | Algorithm::Ps256
            | Algorithm::Ps384
            | Algorithm::Ps512 => {
                let sk = rsa_private().clone();
                let pk = sk.to_public_key();
                let jwk = serde_json::to_value(JsonWebKey::from(&pk)).unwrap();
                (Signer::Rsa(alg, sk), jwk)
            }
        };
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!(alg.as_str());
        TestKey { signer, jwk }
    }

    pub fn alg(&self) -> Algorithm {
        match &self.signer {
            Signer::Hmac(a, _) | Signer::Rsa(a, _) => *a,
            Signer::Es256(_) => Algorithm::Es256,
            Signer::Es384(_) => Algorithm::Es384,
            Signer::Es512(_) => Algorithm::Es512,
            Signer::EdDsa(_) => Algorithm::EdDsa,
        }
    }

    pub fn kid(&self) -> &str {
        self.jwk["kid"].as_str().unwrap()
    }

    pub fn sign(&self, input: &[u8]) -> Vec<u8> {
        match &self.signer {
            Signer::Hmac(alg, secret) => hmac_sign(*alg, secret, input),
            Signer::Es256(sk) => Es256.sign(sk, input).as_bytes().to_vec(),
            Signer::EdDsa(sk) => Ed25519.sign(sk, input).as_bytes().to_vec(),
            Signer::Es384(sk) => {
                use p384::ecdsa::signature::Signer as _;
                let sig: p384::ecdsa::Signature = sk.sign(input);
                sig.to_bytes().to_vec()
            }
            Signer::Es512(sk) => {
                use p521::ecdsa::signature::RandomizedSigner as _;
                let sig: p521::ecdsa::Signature = sk.sign_with_rng(&mut OsRng, input);
                sig.to_bytes().to_vec()
            }
            Signer::Rsa(alg, sk) => {
                let rsa = match alg {
                    Algorithm::Rs256 => Rsa::rs256(),
                    Algorithm::Rs384 => Rsa::rs384(),
                    Algorithm::Rs512 => Rsa::rs512(),
                    Algorithm::Ps256 => Rsa::ps256(),
                    Algorithm::Ps384 => Rsa::ps384(),
                    _ => Rsa::ps512(),
                };
                rsa.sign(sk, input).as_bytes().to_vec()
            }
        }
    }

    /// A token with the usual header (`alg`, `kid`, `typ`) and these claims.
    pub fn mint(&self, claims: &Value) -> String {
        let header = json!({"alg": self.alg().as_str(), "kid": self.kid(), "typ": "JWT"});
        self.mint_raw(&header.to_string(), &claims.to_string())
    }

    /// A token from literal header and payload JSON text (to include duplicates, odd types...).
    pub fn mint_raw(&self, header: &str, payload: &str) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
        let sig = self.sign(input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    pub fn set(&self) -> KeySet {
        jwks(&[self])
    }
}

fn ec_jwk(crv: &str, x: &[u8], y: &[u8]) -> Value {
    json!({"kty": "EC", "crv": crv, "x": b64(x), "y": b64(y)})
}

pub fn hmac_sign(alg: Algorithm, secret: &[u8], input: &[u8]) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(secret: &[u8], input: &[u8]) -> Vec<u8> {
        let mut m = <M as hmac::digest::KeyInit>::new_from_slice(secret).unwrap();
        m.update(input);
        m.finalize().into_bytes().to_vec()
    }
    match alg {
        Algorithm::Hs256 => run::<Hmac<Sha256>>(secret, input),
        Algorithm::Hs384 => run::<Hmac<Sha384>>(secret, input),
        Algorithm::Hs512 => run::<Hmac<Sha512>>(secret, input),
        other => panic!("not an hmac alg: {other}"),
    }
}

pub fn jwks(keys: &[&TestKey]) -> KeySet {
    let doc = json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()});
    KeySet::from_jwks_json(&doc.to_string()).expect("test jwks loads")
}

/// Parse + validate with the native verifier at `NOW`.
pub fn check(token: &str, keys: &KeySet) -> Result<VerifiedClaims, JwtError> {
    check_with(token, keys, &policy(), &at(NOW), &NativeVerifier)
}

pub fn check_with<V: SignatureVerifier>(
    token: &str,
    keys: &KeySet,
    issuer: &IssuerPolicy,
    time: &TimeOptions,
    verifier: &V,
) -> Result<VerifiedClaims, JwtError> {
    let t = UntrustedToken::parse(token, MAX_TOKEN_BYTES)?;
    block_on(validate(&t, keys, issuer, time, verifier))
}

/// [`check`] as a driver that verifies elsewhere does it (the Worker's WebCrypto round trip):
/// `validate_with` defers the signature, the native verifier checks it, and the parked token
/// finishes with that outcome at `time`.
pub fn check_deferred(
    token: &str,
    keys: &KeySet,
    time: &TimeOptions,
) -> Result<VerifiedClaims, JwtError> {
    let t = UntrustedToken::parse(token, MAX_TOKEN_BYTES)?;
    let mut verified = None;
    let validation = validate_with(t, keys, &policy(), time, |check| {
        let ok = block_on(NativeVerifier.verify(check)).is_ok();
        verified = Some((check.key.fingerprint(), ok));
        SignatureVerdict::Deferred
    })?;
    let Validation::Awaiting(awaiting) = validation else {
        panic!("a deferred signature cannot pass on its own");
    };
    let (key, ok) = verified.expect("the signature was handed to the driver");
    assert_eq!(
        awaiting.key_fingerprint(),
        key,
        "bound to the key the driver checked"
    );
    awaiting.finish(ok, &policy(), time)
}

/// The stable reason id of an outcome, `"ok"` for success.
pub fn outcome(r: &Result<VerifiedClaims, JwtError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.reason().id(),
    }
}

//! Signature verification behind one trait: [`HmacVerifier`] (HS*, pure Rust, every target),
//! [`NativeVerifier`] (every algorithm via RustCrypto, native only). On wasm the adapter
//! implements [`SignatureVerifier`] with WebCrypto for the asymmetric algorithms.

use core::future::Future;

use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384, Sha512};

use super::{Algorithm, Jwk, JwtError, KeyMaterial};

/// Everything a verifier needs. `alg` always equals `key.algorithm()` (checked before).
#[derive(Debug, Clone, Copy)]
pub struct SignatureCheck<'a> {
    pub key: &'a Jwk,
    pub alg: Algorithm,
    /// `BASE64URL(header).BASE64URL(payload)` as sent.
    pub signing_input: &'a [u8],
    /// The decoded signature (JWS form: raw MAC, ECDSA `r||s`, Ed25519 64 bytes, RSA `k` bytes).
    pub signature: &'a [u8],
}

/// Checks one signature. Async because WebCrypto is; no `Send` bound (wasm is single-threaded).
pub trait SignatureVerifier {
    /// `Ok(())` only if the signature verifies with `check.key` under `check.alg`.
    fn verify(&self, check: &SignatureCheck<'_>) -> impl Future<Output = Result<(), JwtError>>;
}

/// HS256/384/512 in Rust, constant-time comparison. Refuses every other algorithm.
#[derive(Debug, Clone, Copy, Default)]
pub struct HmacVerifier;

impl HmacVerifier {
    /// The synchronous check, for callers that are not async.
    pub fn verify_sync(&self, check: &SignatureCheck<'_>) -> Result<(), JwtError> {
        if check.alg != check.key.algorithm() {
            return Err(JwtError::AlgorithmMismatch {
                expected: check.key.algorithm(),
                actual: check.alg,
            });
        }
        // An HMAC must be computed with an oct key; an RSA/EC key's public bytes never are one.
        let KeyMaterial::Oct(secret) = check.key.material() else {
            return Err(JwtError::VerifierUnsupported { alg: check.alg });
        };
        fn run<M: Mac + hmac::digest::KeyInit>(
            secret: &[u8],
            input: &[u8],
            sig: &[u8],
        ) -> Result<(), JwtError> {
            let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret)
                .map_err(|_| JwtError::SignatureInvalid)?;
            mac.update(input);
            mac.verify_slice(sig)
                .map_err(|_| JwtError::SignatureInvalid)
        }
        let expected_len = check.alg.hmac_len();
        if expected_len != Some(check.signature.len()) {
            return Err(JwtError::SignatureInvalid);
        }
        match check.alg {
            Algorithm::Hs256 => match check.key.hs256_mac() {
                Some(mut mac) => {
                    mac.update(check.signing_input);
                    mac.verify_slice(check.signature)
                        .map_err(|_| JwtError::SignatureInvalid)
                }
                None => run::<Hmac<Sha256>>(secret, check.signing_input, check.signature),
            },
            Algorithm::Hs384 => run::<Hmac<Sha384>>(secret, check.signing_input, check.signature),
            Algorithm::Hs512 => run::<Hmac<Sha512>>(secret, check.signing_input, check.signature),
            other => Err(JwtError::VerifierUnsupported { alg: other }),
        }
    }
}

impl SignatureVerifier for HmacVerifier {
    fn verify(&self, check: &SignatureCheck<'_>) -> impl Future<Output = Result<(), JwtError>> {
        core::future::ready(self.verify_sync(check))
    }
}

/// Every algorithm, natively, via RustCrypto (through jwt-compact's algorithm types).
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone, Copy, Default)]
pub struct NativeVerifier;

#[cfg(not(target_arch = "wasm32"))]
impl NativeVerifier {
    pub fn verify_sync(&self, check: &SignatureCheck<'_>) -> Result<(), JwtError> {
        use jwt_compact::alg::{Ed25519, Es256, Rsa, RsaPublicKey};
        use jwt_compact::jwk::JsonWebKey;
        use jwt_compact::{Algorithm as _, AlgorithmSignature as _};
        use std::borrow::Cow;

        if check.alg.is_hmac() {
            return HmacVerifier.verify_sync(check);
        }
        if check.alg != check.key.algorithm() {
            return Err(JwtError::AlgorithmMismatch {
                expected: check.key.algorithm(),
                actual: check.alg,
            });
        }
        let unusable = |e: &dyn core::fmt::Display| JwtError::KeyUnusable {
            detail: e.to_string(),
        };
        let ok = match (check.alg, check.key.material()) {
            (Algorithm::Es256, KeyMaterial::Ec { x, y }) => {
                let jwk = JsonWebKey::EllipticCurve {
                    curve: Cow::Borrowed("P-256"),
                    x: Cow::Borrowed(x),
                    y: Cow::Borrowed(y),
                    secret: None,
                };
                let key = <Es256 as jwt_compact::Algorithm>::VerifyingKey::try_from(&jwk)
                    .map_err(|e| unusable(&e))?;
                if check.signature.len() != 64 {
                    return Err(JwtError::SignatureInvalid);
                }
                let sig =
                    <Es256 as jwt_compact::Algorithm>::Signature::try_from_slice(check.signature)
                        .map_err(|_| JwtError::SignatureInvalid)?;
                Es256.verify_signature(&sig, &key, check.signing_input)
            }
            (Algorithm::EdDsa, KeyMaterial::Okp { x }) => {
                let jwk = JsonWebKey::KeyPair {
                    curve: Cow::Borrowed("Ed25519"),
                    x: Cow::Borrowed(x),
                    secret: None,
                };
                let key = <Ed25519 as jwt_compact::Algorithm>::VerifyingKey::try_from(&jwk)
                    .map_err(|e| unusable(&e))?;
                if check.signature.len() != 64 {
                    return Err(JwtError::SignatureInvalid);
                }
                let sig =
                    <Ed25519 as jwt_compact::Algorithm>::Signature::try_from_slice(check.signature)
                        .map_err(|_| JwtError::SignatureInvalid)?;
                Ed25519.verify_signature(&sig, &key, check.signing_input)
            }
            (Algorithm::Es384 | Algorithm::Es512, KeyMaterial::Ec { x, y }) => {
                if check.signature.len() != 2 * x.len() {
                    return Err(JwtError::SignatureInvalid);
                }
                ecdsa_p384_p521(check.alg, x, y, check.signing_input, check.signature)?
            }
            (alg, KeyMaterial::Rsa { n, e }) if alg.rsa().is_some() => {
                let jwk = JsonWebKey::Rsa {
                    modulus: Cow::Borrowed(n),
                    public_exponent: Cow::Borrowed(e),
                    private_parts: None,
                };
                let key = RsaPublicKey::try_from(&jwk).map_err(|e| unusable(&e))?;
                // RFC 7518 §3.3: the signature is exactly as long as the modulus.
                if check.signature.len() != n.len() {
                    return Err(JwtError::SignatureInvalid);
                }
                let rsa = match alg {
                    Algorithm::Rs256 => Rsa::rs256(),
                    Algorithm::Rs384 => Rsa::rs384(),
                    Algorithm::Rs512 => Rsa::rs512(),
                    Algorithm::Ps256 => Rsa::ps256(),
                    Algorithm::Ps384 => Rsa::ps384(),
                    _ => Rsa::ps512(),
                };
                let sig =
                    <Rsa as jwt_compact::Algorithm>::Signature::try_from_slice(check.signature)
                        .map_err(|_| JwtError::SignatureInvalid)?;
                rsa.verify_signature(&sig, &key, check.signing_input)
            }
            (alg, _) => return Err(JwtError::VerifierUnsupported { alg }),
        };
        if ok {
            Ok(())
        } else {
            Err(JwtError::SignatureInvalid)
        }
    }
}

/// ES384 (P-384, SHA-384) and ES512 (P-521, SHA-512) with RustCrypto's `p384`/`p521`: the point
/// must lie on the curve (else the key is unusable), `r||s` must be two scalars in range.
#[cfg(not(target_arch = "wasm32"))]
fn ecdsa_p384_p521(
    alg: Algorithm,
    x: &[u8],
    y: &[u8],
    input: &[u8],
    sig: &[u8],
) -> Result<bool, JwtError> {
    use p384::ecdsa::signature::Verifier as _;
    let unusable = |what: &str| JwtError::KeyUnusable {
        detail: format!("{alg} public key: {what}"),
    };
    let mut sec1 = Vec::with_capacity(1 + x.len() + y.len());
    sec1.push(0x04);
    sec1.extend_from_slice(x);
    sec1.extend_from_slice(y);
    Ok(match alg {
        Algorithm::Es384 => {
            let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                .map_err(|_| unusable("not a point on P-384"))?;
            let Ok(sig) = p384::ecdsa::Signature::from_slice(sig) else {
                return Err(JwtError::SignatureInvalid);
            };
            key.verify(input, &sig).is_ok()
        }
        Algorithm::Es512 => {
            let key = p521::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                .map_err(|_| unusable("not a point on P-521"))?;
            let Ok(sig) = p521::ecdsa::Signature::from_slice(sig) else {
                return Err(JwtError::SignatureInvalid);
            };
            key.verify(input, &sig).is_ok()
        }
        other => return Err(JwtError::VerifierUnsupported { alg: other }),
    })
}

#[cfg(not(target_arch = "wasm32"))]
impl SignatureVerifier for NativeVerifier {
    fn verify(&self, check: &SignatureCheck<'_>) -> impl Future<Output = Result<(), JwtError>> {
        core::future::ready(self.verify_sync(check))
    }
}

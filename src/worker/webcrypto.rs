//! Asymmetric JWS verification through the runtime's WebCrypto (`crypto.subtle`): measured
//! 10–60× faster in workerd than the same algorithms compiled to wasm. HS* stays in Rust.

use base64::Engine;
use js_sys::{Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::CryptoKey;

use crate::jwt::{
    Algorithm, HmacVerifier, Jwk, JwtError, KeyMaterial, SignatureCheck, SignatureVerifier,
};

// The WebCrypto parameters per algorithm and the imported-key cache live in `glue.js`, shared
// with `entry.js` (the synchronous path verifies there). An algorithm without parameters
// rejects: the verification fails closed.
#[wasm_bindgen(module = "/src/worker/glue.js")]
extern "C" {
    #[wasm_bindgen(js_name = cachedKey)]
    fn cached_key(key_id: &str) -> Option<CryptoKey>;
    #[wasm_bindgen(js_name = importKey)]
    fn import_key(alg: &str, format: &str, data: &JsValue, key_id: Option<&str>) -> Promise;
    #[wasm_bindgen(js_name = verifySignature)]
    fn verify_signature(alg: &str, key: &CryptoKey, signature: &[u8], data: &[u8]) -> Promise;
}

pub(crate) struct WebCryptoVerifier;

fn obj(pairs: &[(&str, JsValue)]) -> Object {
    let o = Object::new();
    for (k, v) in pairs {
        let _ = Reflect::set(&o, &JsValue::from_str(k), v);
    }
    o
}

fn b64url(b: &[u8]) -> JsValue {
    JsValue::from_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

/// Imports `key` and caches it under `key_id` (its fingerprint: alg + key material).
async fn import(alg: Algorithm, key: &Jwk, key_id: &str) -> Result<CryptoKey, JsValue> {
    let (format, data): (&str, JsValue) = match key.material() {
        KeyMaterial::Okp { x } => ("raw", Uint8Array::from(x).into()),
        KeyMaterial::Ec { x, y } => (
            "jwk",
            obj(&[
                ("kty", "EC".into()),
                ("crv", "P-256".into()),
                ("x", b64url(x)),
                ("y", b64url(y)),
            ])
            .into(),
        ),
        KeyMaterial::Rsa { n, e } => (
            "jwk",
            obj(&[
                ("kty", "RSA".into()),
                ("n", b64url(n)),
                ("e", b64url(e)),
                ("alg", alg.as_str().into()),
            ])
            .into(),
        ),
        KeyMaterial::Oct(_) => return Err(JsValue::from_str("oct keys are verified in Rust")),
    };
    let promise = import_key(alg.as_str(), format, &data, Some(key_id));
    Ok(JsFuture::from(promise).await?.unchecked_into())
}

impl WebCryptoVerifier {
    async fn verify_asymmetric(&self, check: &SignatureCheck<'_>) -> Result<bool, JsValue> {
        let id = crate::envelope::hex(&check.key.fingerprint());
        let key = match cached_key(&id) {
            Some(k) => k,
            None => import(check.alg, check.key, &id).await?,
        };
        let verified = verify_signature(
            check.alg.as_str(),
            &key,
            check.signature,
            check.signing_input,
        );
        Ok(JsFuture::from(verified).await?.as_bool() == Some(true))
    }
}

impl SignatureVerifier for WebCryptoVerifier {
    async fn verify(&self, check: &SignatureCheck<'_>) -> Result<(), JwtError> {
        match check.alg {
            Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512 => {
                HmacVerifier.verify(check).await
            }
            _ => match self.verify_asymmetric(check).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(JwtError::SignatureInvalid),
                // Import or verify threw: the key is unusable by this runtime (logged, never a panic).
                Err(e) => Err(JwtError::KeyUnusable {
                    detail: format!("webcrypto {}: {e:?}", check.alg.as_str()),
                }),
            },
        }
    }
}

/// Verifies an Ed25519 signature (Standard Webhooks `v1a`) with WebCrypto; false on any error.
pub(crate) async fn ed25519_verify(
    public_key: &[u8; 32],
    message: &[u8],
    signature: &[u8; 64],
) -> bool {
    async fn run(
        public_key: &[u8; 32],
        message: &[u8],
        signature: &[u8; 64],
    ) -> Result<bool, JsValue> {
        let alg = Algorithm::EdDsa.as_str();
        let data: JsValue = Uint8Array::from(&public_key[..]).into();
        let key: CryptoKey = JsFuture::from(import_key(alg, "raw", &data, None))
            .await?
            .unchecked_into();
        let verified = verify_signature(alg, &key, signature, message);
        Ok(JsFuture::from(verified).await?.as_bool() == Some(true))
    }
    run(public_key, message, signature).await.unwrap_or(false)
}

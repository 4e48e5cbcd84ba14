//! Pluggable Ed25519 for Standard Webhooks `v1a`: WebCrypto (async) in the Worker, ed25519-dalek natively.

/// Verifies one Ed25519 signature. Implemented natively by [`DalekEd25519`]; the Worker adapter
/// instead takes [`super::PendingEd25519`]'s content and candidates to `crypto.subtle.verify`.
pub trait Ed25519Verify {
    fn verify(&self, public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool;
}

/// RustCrypto's ed25519-dalek, strict verification (rejects non-canonical and small-order
/// encodings). Native only: on wasm32 the runtime's WebCrypto is much faster.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone, Copy, Default)]
pub struct DalekEd25519;

#[cfg(not(target_arch = "wasm32"))]
impl Ed25519Verify for DalekEd25519 {
    fn verify(&self, public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
        let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(public_key) else {
            return false;
        };
        key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature))
            .is_ok()
    }
}

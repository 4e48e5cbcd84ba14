//! Secret key material: wiped on drop, redacted in `Debug`, length-checked at load.

use core::fmt;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Raw bytes of a symmetric secret (HMAC key, envelope secret, webhook secret).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

/// A secret was refused at load.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretError {
    /// Shorter than the minimum (RFC 7518 §3.2: at least the hash output size).
    TooShort { min: usize, actual: usize },
    /// The text is neither hex nor base64 (see [`decode`]).
    NotEncoded,
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretError::TooShort { min, actual } => {
                write!(f, "secret is {actual} bytes, at least {min} are required")
            }
            SecretError::NotEncoded => f.write_str("is neither hex nor base64"),
        }
    }
}

impl std::error::Error for SecretError {}

/// Decodes a secret given as text: hex (even length, all hex digits) or base64, standard or
/// URL-safe alphabet, padding optional. The one decoder for every secret the edge and the origin
/// read from their environment, so a value one side accepts the other never refuses.
pub fn decode(text: &str) -> Result<Vec<u8>, SecretError> {
    use crate::b64::{decode, Form};
    let s = text.trim();
    if s.len() % 2 == 0 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return crate::envelope::unhex(s).ok_or(SecretError::NotEncoded);
    }
    let unpadded = s.trim_end_matches('=');
    decode(unpadded.as_bytes(), Form::SECRET_URL)
        .or_else(|| decode(unpadded.as_bytes(), Form::SECRET_STANDARD))
        .ok_or(SecretError::NotEncoded)
}

impl SecretBytes {
    /// Accepts `bytes` only if it has at least `min_len` bytes.
    pub fn new(bytes: Vec<u8>, min_len: usize) -> Result<Self, SecretError> {
        if bytes.len() < min_len {
            let actual = bytes.len();
            let mut b = bytes;
            b.zeroize();
            return Err(SecretError::TooShort {
                min: min_len,
                actual,
            });
        }
        Ok(SecretBytes(bytes))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes([redacted; {} bytes])", self.0.len())
    }
}

/// An HMAC-SHA256 key, hashed into its inner and outer padded states once at load: each
/// MAC then starts from a copy instead of re-deriving them from the key bytes. The key bytes
/// themselves are wiped as soon as the states exist.
#[derive(Clone)]
pub(crate) struct HmacSha256Key {
    keyed: Hmac<Sha256>,
    key_len: usize,
}

impl HmacSha256Key {
    pub(crate) fn new(key: &SecretBytes) -> Self {
        HmacSha256Key {
            keyed: <Hmac<Sha256> as Mac>::new_from_slice(key.expose())
                .expect("hmac accepts any key length"),
            key_len: key.len(),
        }
    }

    /// A MAC ready to be fed the message.
    pub(crate) fn mac(&self) -> Hmac<Sha256> {
        self.keyed.clone()
    }
}

impl Drop for HmacSha256Key {
    fn drop(&mut self) {
        // The padded states forge MACs as well as the key does, but `hmac`/`sha2` offer no
        // Zeroize: overwrite them with the states of an empty key, and keep the compiler from
        // dropping the write as dead.
        self.keyed =
            <Hmac<Sha256> as Mac>::new_from_slice(&[]).expect("hmac accepts any key length");
        core::hint::black_box(&mut self.keyed);
    }
}

impl fmt::Debug for HmacSha256Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HmacSha256Key([redacted; {} bytes])", self.key_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secret_is_refused_and_debug_is_redacted() {
        assert_eq!(
            SecretBytes::new(b"your-256-bit-secret".to_vec(), 32).unwrap_err(),
            SecretError::TooShort {
                min: 32,
                actual: 19
            }
        );
        let s = SecretBytes::new(vec![7u8; 32], 32).unwrap();
        assert!(!format!("{s:?}").contains('7'));
    }

    #[test]
    fn secrets_decode_from_hex_and_both_base64_alphabets() {
        assert_eq!(decode("00ff").unwrap(), vec![0, 255]);
        assert_eq!(decode("AP8").unwrap(), vec![0, 255]);
        assert_eq!(decode("AP8=").unwrap(), vec![0, 255]);
        // 0xfb 0xff: `+/` in the standard alphabet, `-_` in the URL-safe one.
        assert_eq!(decode("+/8").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(decode("-_8").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(decode("not base64!"), Err(SecretError::NotEncoded));
        assert_eq!(decode(""), Ok(vec![]));
    }

    #[test]
    fn a_keyed_hmac_state_macs_like_the_key_and_is_redacted() {
        let key = SecretBytes::new(b"0123456789abcdef0123456789abcdef".to_vec(), 16).unwrap();
        let keyed = HmacSha256Key::new(&key);
        let mut direct = <Hmac<Sha256> as Mac>::new_from_slice(key.expose()).unwrap();
        direct.update(b"message");
        let mut m = keyed.mac();
        m.update(b"mess");
        m.update(b"age");
        assert_eq!(m.finalize().into_bytes(), direct.finalize().into_bytes());
        let dbg = format!("{keyed:?}");
        assert!(dbg.contains("redacted") && !dbg.contains("0123"), "{dbg}");
    }
}

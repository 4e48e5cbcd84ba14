//! Secret key material: wiped on drop, redacted in `Debug`, length-checked at load.

use core::fmt;
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
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretError::TooShort { min, actual } => {
                write!(f, "secret is {actual} bytes, at least {min} are required")
            }
        }
    }
}

impl std::error::Error for SecretError {}

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
}

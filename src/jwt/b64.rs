//! Canonical unpadded base64url (RFC 7515 §2): padding, non-alphabet characters and non-zero
//! trailing bits are all refused, so every byte string has exactly one accepted encoding.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Decodes strictly; `None` on any deviation from the canonical form.
pub(crate) fn decode(s: &str) -> Option<Vec<u8>> {
    // The engine refuses `=`, `+`, `/`, whitespace and non-zero trailing bits by configuration
    // (`RequireNone`, `decode_allow_trailing_bits = false`).
    URL_SAFE_NO_PAD.decode(s.as_bytes()).ok()
}

#[cfg(test)]
pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_canonical_encoding_decodes() {
        assert_eq!(decode("YQ").as_deref(), Some(&b"a"[..]));
        assert_eq!(decode(""), Some(vec![]));
        for bad in [
            "YQ==", "YQ=", "YR", "Y Q", "Y+", "Y/", "Y", "YQ\n", "Y\u{e9}",
        ] {
            assert_eq!(decode(bad), None, "{bad:?} must be refused");
        }
        assert_eq!(encode(b"a"), "YQ");
    }
}

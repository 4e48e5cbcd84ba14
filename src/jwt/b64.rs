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

/// Decodes strictly like [`decode`], appending to `out`; returns where the new bytes start.
/// Lets a token's three segments share one buffer.
pub(crate) fn decode_append(s: &str, out: &mut Vec<u8>) -> Option<usize> {
    let start = out.len();
    URL_SAFE_NO_PAD.decode_vec(s.as_bytes(), out).ok()?;
    Some(start)
}

/// Room [`decode_append`] needs for `encoded_len` characters (it sizes its output up front).
pub(crate) const fn decode_capacity(encoded_len: usize) -> usize {
    encoded_len.div_ceil(4) * 3
}

/// The one encoding [`decode`] accepts.
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

    #[test]
    fn appending_is_as_strict_and_keeps_what_was_there() {
        let mut out = b"x".to_vec();
        assert_eq!(decode_append("YQ", &mut out), Some(1));
        assert_eq!(decode_append("", &mut out), Some(2));
        assert_eq!(decode_append("YWI", &mut out), Some(2));
        assert_eq!(out, b"xaab");
        for bad in ["YQ==", "YR", "Y+", "Y"] {
            assert_eq!(decode_append(bad, &mut Vec::new()), None, "{bad:?}");
        }
        for n in 0..64 {
            let mut v = Vec::with_capacity(decode_capacity(n));
            let cap = v.capacity();
            let _ = decode_append(&"A".repeat(n), &mut v);
            assert_eq!(v.capacity(), cap, "no reallocation for {n} characters");
        }
    }
}

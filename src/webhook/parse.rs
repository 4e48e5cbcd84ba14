//! Strict decoding shared by the formats: timestamps, ids, base64, tolerance.

use super::WebhookError;
use crate::b64::{self, Form};
use crate::time::UnixMillis;

/// Longest signature header we parse; real ones are well under 1 KiB even with rotation.
pub(crate) const MAX_SIGNATURE_HEADER_LEN: usize = 4096;
/// Most signatures we try from one header (bounds the work a forged header can cause).
pub(crate) const MAX_SIGNATURES: usize = 16;
/// Longest delivery id we accept (GitHub GUIDs are 36, Standard Webhooks ids ~30).
pub(crate) const MAX_ID_LEN: usize = 256;

/// The well-formed 32-byte MACs of one signature header, kept on the stack (a header
/// carries at most [`MAX_SIGNATURES`]; callers refuse more before pushing).
pub(crate) struct Macs {
    items: [[u8; 32]; MAX_SIGNATURES],
    len: usize,
}

impl Macs {
    pub(crate) fn new() -> Self {
        Macs {
            items: [[0; 32]; MAX_SIGNATURES],
            len: 0,
        }
    }

    pub(crate) fn push(&mut self, mac: [u8; 32]) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = mac;
            self.len += 1;
        }
    }

    pub(crate) fn as_slice(&self) -> &[[u8; 32]] {
        &self.items[..self.len]
    }
}

/// A hex MAC (either case): `Some(Some(mac))` for 64 digits, `Some(None)` for well-formed
/// hex of another length (it can never match), `None` if not hex (odd length, other
/// characters). Decodes without allocating.
pub(crate) fn hex_mac(s: &str) -> Option<Option<[u8; 32]>> {
    use crate::envelope::hex_nibble as nib;
    let b = s.as_bytes();
    if b.len() % 2 != 0 {
        return None;
    }
    if b.len() != 64 {
        return b.iter().all(u8::is_ascii_hexdigit).then_some(None);
    }
    let mut mac = [0u8; 32];
    for (out, pair) in mac.iter_mut().zip(b.chunks_exact(2)) {
        *out = nib(pair[0])? << 4 | nib(pair[1])?;
    }
    Some(Some(mac))
}

/// Signatures: canonical padded standard base64, nothing else.
pub(crate) fn b64_strict(s: &str) -> Option<Vec<u8>> {
    b64::decode(s.as_bytes(), Form::SIGNATURE)
}

/// Secrets: standard alphabet, padding optional and trailing bits ignored ([`Form::WEBHOOK_KEY`]).
pub(crate) fn b64_secret(s: &str) -> Option<Vec<u8>> {
    b64::decode(s.as_bytes(), Form::WEBHOOK_KEY)
}

/// Unix seconds as sent: ASCII digits only, no sign, no leading zero, no spaces, fits in u64.
pub(crate) fn timestamp(header: &'static str, s: &str) -> Result<u64, WebhookError> {
    let bad = |problem| WebhookError::HeaderMalformed { header, problem };
    if s.is_empty() {
        return Err(bad("timestamp is empty"));
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("timestamp is not unsigned decimal digits"));
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(bad("timestamp is zero-padded"));
    }
    s.parse::<u64>()
        .map_err(|_| bad("timestamp does not fit in 64 bits"))
}

/// Rejects a timestamp more than `tolerance_secs` away from `now` in either direction.
/// `now` is taken in whole seconds (rounded down), like the providers' own libraries.
pub(crate) fn within_tolerance(
    ts: u64,
    now: UnixMillis,
    tolerance_secs: u64,
) -> Result<(), WebhookError> {
    let now_s = now.secs();
    if ts.abs_diff(now_s) > tolerance_secs {
        return Err(WebhookError::TimestampOutOfTolerance {
            timestamp: ts,
            now: now_s,
            tolerance_secs,
        });
    }
    Ok(())
}

/// A delivery id: 1..=256 visible ASCII characters; `.` refused where the id is part of a
/// dot-separated signed string (Standard Webhooks), so the split stays unambiguous.
pub(crate) fn delivery_id(
    header: &'static str,
    s: &str,
    allow_dot: bool,
) -> Result<(), WebhookError> {
    let bad = |problem| WebhookError::HeaderMalformed { header, problem };
    if s.is_empty() {
        return Err(bad("id is empty"));
    }
    if s.len() > MAX_ID_LEN {
        return Err(bad("id is longer than 256 bytes"));
    }
    if !s.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(bad("id has characters outside visible ascii"));
    }
    if !allow_dot && s.contains('.') {
        return Err(bad("id contains '.'"));
    }
    Ok(())
}

/// Is this id acceptable as a delivery id (used for ids taken from a verified body)?
pub(crate) fn is_valid_id(s: &str) -> bool {
    delivery_id("", s, true).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_strict() {
        assert_eq!(timestamp("t", "1614265330"), Ok(1614265330));
        assert_eq!(timestamp("t", "0"), Ok(0));
        for bad in [
            "",
            " 1",
            "1 ",
            "+1",
            "-1",
            "01",
            "0x10",
            "1.5",
            "1e9",
            "١٢",
            "99999999999999999999",
        ] {
            assert_eq!(
                timestamp("t", bad).unwrap_err().reason(),
                crate::reason::Reason::WebhookHeaderMalformed,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn hex_macs_decode_without_allocation_and_match_unhex() {
        let hex = "00ff10AbcdEF".repeat(6);
        let hex = &hex[..64];
        let want: [u8; 32] = crate::envelope::unhex(hex).unwrap().try_into().unwrap();
        assert_eq!(hex_mac(hex), Some(Some(want)));
        assert_eq!(hex_mac(""), Some(None), "empty is hex of the wrong length");
        assert_eq!(hex_mac("abcd"), Some(None));
        assert_eq!(hex_mac(&"a".repeat(66)), Some(None));
        for bad in [
            "a",
            "abc",
            "zz",
            "0x12",
            &"g".repeat(64),
            &format!("{}\u{e9}", &hex[..62]),
        ] {
            assert_eq!(hex_mac(bad), None, "{bad:?}");
            assert_eq!(crate::envelope::unhex(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn macs_keep_at_most_the_signature_limit() {
        let mut m = Macs::new();
        for i in 0..=MAX_SIGNATURES {
            m.push([i as u8; 32]);
        }
        assert_eq!(m.as_slice().len(), MAX_SIGNATURES);
        assert_eq!(m.as_slice()[3], [3; 32]);
    }

    #[test]
    fn tolerance_is_inclusive_both_ways() {
        let now = UnixMillis::from_secs(1_000_000);
        assert!(within_tolerance(1_000_300, now, 300).is_ok());
        assert!(within_tolerance(999_700, now, 300).is_ok());
        assert!(within_tolerance(1_000_301, now, 300).is_err());
        assert!(within_tolerance(999_699, now, 300).is_err());
    }

    #[test]
    fn signature_base64_is_strict_and_secret_base64_is_lenient() {
        assert!(b64_strict("AAAA").is_some());
        assert!(b64_strict("AA").is_none(), "unpadded signature refused");
        assert!(
            b64_strict("AB==").is_none(),
            "non-canonical trailing bits refused"
        );
        assert!(b64_strict("AA A").is_none());
        assert_eq!(b64_secret("AA"), Some(vec![0]));
        assert_eq!(b64_secret("AA=="), Some(vec![0]));
        assert!(b64_secret("A!").is_none());
    }
}

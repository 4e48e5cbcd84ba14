//! Base64 in the four forms the edge reads, and the one it writes (RFC 4648 §4 and §5).
//!
//! | form | where | alphabet | `=` padding | unused bits of the last character |
//! | --- | --- | --- | --- | --- |
//! | [`Form::JWS`] | token segments, packed configuration, plans | URL-safe | refused | must be zero |
//! | [`Form::SIGNATURE`] | Standard Webhooks signatures | standard | required | must be zero |
//! | [`Form::WEBHOOK_KEY`] | `whsec_`/`whpk_` keys | standard | optional | ignored |
//! | [`Form::SECRET_URL`], [`Form::SECRET_STANDARD`] | secrets in the environment (after `=` is trimmed) | either | refused | must be zero |
//!
//! Written here rather than taken from the `base64` crate: the Worker needs these five modes and
//! nothing else, and the crate's general-purpose engine was 14.6 KiB of machine code that every
//! fresh isolate compiled on its first request (issue 23; docs/PERFORMANCE.md, session 20). The
//! crate stays the reference: the tests below check every form against its engine configured the
//! same way.

/// Which characters encode the values 62 and 63.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Alphabet {
    /// `+` and `/` (RFC 4648 §4).
    Standard,
    /// `-` and `_` (RFC 4648 §5).
    UrlSafe,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Padding {
    /// No `=` anywhere.
    Refused,
    /// Exactly the `=` that make the length a multiple of four.
    Required,
    /// Either none or exactly those.
    Optional,
}

/// One accepted form: a decoder accepts an input in this form and nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Form {
    alphabet: Alphabet,
    padding: Padding,
    /// The bits of the last character that encode no byte must be zero, so every byte string
    /// has exactly one accepted encoding.
    canonical: bool,
}

impl Form {
    /// JWS segments (RFC 7515 §2): unpadded base64url, canonical.
    pub(crate) const JWS: Form = Form {
        alphabet: Alphabet::UrlSafe,
        padding: Padding::Refused,
        canonical: true,
    };
    /// Standard Webhooks signatures: padded standard base64, canonical.
    pub(crate) const SIGNATURE: Form = Form {
        alphabet: Alphabet::Standard,
        padding: Padding::Required,
        canonical: true,
    };
    /// Standard Webhooks keys: standard alphabet, padding optional and unused bits ignored, as the
    /// Standard Webhooks libraries read them (Python appends "==" and decodes).
    pub(crate) const WEBHOOK_KEY: Form = Form {
        alphabet: Alphabet::Standard,
        padding: Padding::Optional,
        canonical: false,
    };
    /// A secret from the environment in the URL-safe alphabet, its `=` already trimmed: the
    /// JWS form.
    pub(crate) const SECRET_URL: Form = Form::JWS;
    /// The same in the standard alphabet.
    pub(crate) const SECRET_STANDARD: Form = Form {
        alphabet: Alphabet::Standard,
        padding: Padding::Refused,
        canonical: true,
    };
}

/// Marks a byte outside the alphabet in [`TABLES`].
const INVALID: u8 = 0xff;

/// Each alphabet's value of every byte ([`INVALID`] for those outside it); `=` is invalid in both,
/// padding is taken off before decoding.
static TABLES: [[u8; 256]; 2] = [table(b'+', b'/'), table(b'-', b'_')];

const fn table(c62: u8, c63: u8) -> [u8; 256] {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 26 {
        t[b'A' as usize + i] = i as u8;
        t[b'a' as usize + i] = 26 + i as u8;
        if i < 10 {
            t[b'0' as usize + i] = 52 + i as u8;
        }
        i += 1;
    }
    t[c62 as usize] = 62;
    t[c63 as usize] = 63;
    t
}

/// Decodes `input` in `form`; `None` on any deviation from it.
pub(crate) fn decode(input: &[u8], form: Form) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    decode_append(input, form, &mut out)?;
    Some(out)
}

/// Decodes like [`decode`], appending to `out`; returns where the new bytes start. `out` keeps
/// what it held before, whatever the outcome.
pub(crate) fn decode_append(input: &[u8], form: Form, out: &mut Vec<u8>) -> Option<usize> {
    let body = unpadded(input, form.padding)?;
    let rem = body.len() % 4;
    if rem == 1 {
        return None;
    }
    let table = &TABLES[form.alphabet as usize];
    let start = out.len();
    let full = body.len() / 4;
    out.resize(start + full * 3 + rem.saturating_sub(1), 0);
    let dst = &mut out[start..];
    let (quads, tail) = body.split_at(full * 4);
    // Values are OR-ed into `seen`: one check per chunk instead of one per character.
    let mut seen = 0u8;
    for (q, d) in quads.chunks_exact(4).zip(dst.chunks_exact_mut(3)) {
        let (a, b, c, e) = (
            table[q[0] as usize],
            table[q[1] as usize],
            table[q[2] as usize],
            table[q[3] as usize],
        );
        seen |= a | b | c | e;
        let n = u32::from(a) << 18 | u32::from(b) << 12 | u32::from(c) << 6 | u32::from(e);
        d[0] = (n >> 16) as u8;
        d[1] = (n >> 8) as u8;
        d[2] = n as u8;
    }
    let ok = if tail.is_empty() {
        seen & 0xc0 == 0
    } else {
        let mut n = 0u32;
        for &ch in tail {
            let v = table[ch as usize];
            seen |= v;
            n = n << 6 | u32::from(v & 0x3f);
        }
        // Two characters carry 12 bits for one byte, three carry 18 for two.
        let unused = if tail.len() == 2 { 4 } else { 2 };
        let last = &mut dst[full * 3..];
        let n = n >> unused;
        let last_value = table[tail[tail.len() - 1] as usize];
        let canonical = !form.canonical || last_value & ((1 << unused) - 1) == 0;
        if last.len() == 2 {
            last[0] = (n >> 8) as u8;
            last[1] = n as u8;
        } else {
            last[0] = n as u8;
        }
        seen & 0xc0 == 0 && canonical
    };
    if ok {
        Some(start)
    } else {
        out.truncate(start);
        None
    }
}

/// Canonical unpadded base64url ([`Form::JWS`]) of `s`.
pub(crate) fn decode_url(s: &str) -> Option<Vec<u8>> {
    decode(s.as_bytes(), Form::JWS)
}

/// Decodes like [`decode_url`], appending to `out`; returns where the new bytes start. Lets a
/// token's three segments share one buffer.
pub(crate) fn decode_url_append(s: &str, out: &mut Vec<u8>) -> Option<usize> {
    decode_append(s.as_bytes(), Form::JWS, out)
}

/// Room a decode of `encoded_len` characters appends at most (it sizes its output up front).
pub(crate) const fn decode_capacity(encoded_len: usize) -> usize {
    encoded_len.div_ceil(4) * 3
}

/// `input` without its padding, if its padding is what `padding` asks for. Padding stands only
/// after the two or three characters that end the last group of four.
fn unpadded(input: &[u8], padding: Padding) -> Option<&[u8]> {
    let pads = input
        .iter()
        .rev()
        .take(3)
        .take_while(|&&b| b == b'=')
        .count();
    let body = &input[..input.len() - pads];
    let rem = body.len() % 4;
    let fits = match padding {
        Padding::Refused => pads == 0,
        // Exactly the padding that completes the last group of four.
        Padding::Required => (rem + pads) % 4 == 0 && (pads == 0 || rem >= 2),
        // None, or padding that stays inside the last group of four.
        Padding::Optional => pads == 0 || rem >= 2 && rem + pads <= 4,
    };
    fits.then_some(body)
}

/// Unpadded base64url: the one form [`Form::JWS`] accepts.
pub(crate) fn encode_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    let chunks = bytes.chunks_exact(3);
    let tail = chunks.remainder();
    for c in chunks {
        let n = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
        out.extend_from_slice(&[
            ALPHABET[(n >> 18) as usize & 63],
            ALPHABET[(n >> 12) as usize & 63],
            ALPHABET[(n >> 6) as usize & 63],
            ALPHABET[n as usize & 63],
        ]);
    }
    match *tail {
        [a] => {
            out.extend_from_slice(&[ALPHABET[(a >> 2) as usize], ALPHABET[(a & 3) as usize * 16]])
        }
        [a, b] => {
            let n = u32::from(a) << 8 | u32::from(b);
            out.extend_from_slice(&[
                ALPHABET[(n >> 10) as usize & 63],
                ALPHABET[(n >> 4) as usize & 63],
                ALPHABET[(n & 15) as usize * 4],
            ]);
        }
        _ => {}
    }
    // Every byte pushed is from ALPHABET, which is ASCII.
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{
        GeneralPurpose, GeneralPurposeConfig, STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD,
    };
    use base64::engine::DecodePaddingMode;
    use base64::Engine as _;
    use proptest::prelude::*;

    /// Each form and the `base64` crate's engine configured to accept exactly it.
    fn forms() -> [(Form, GeneralPurpose); 5] {
        let key = GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            GeneralPurposeConfig::new()
                .with_decode_padding_mode(DecodePaddingMode::Indifferent)
                .with_decode_allow_trailing_bits(true),
        );
        [
            (Form::JWS, URL_SAFE_NO_PAD),
            (Form::SIGNATURE, STANDARD),
            (Form::WEBHOOK_KEY, key),
            (Form::SECRET_URL, URL_SAFE_NO_PAD),
            (Form::SECRET_STANDARD, STANDARD_NO_PAD),
        ]
    }

    #[test]
    fn each_form_accepts_what_it_says_and_nothing_else() {
        let d = |s: &str, form| decode(s.as_bytes(), form);
        // JWS: unpadded base64url, canonical.
        assert_eq!(d("YQ", Form::JWS).as_deref(), Some(&b"a"[..]));
        assert_eq!(d("", Form::JWS), Some(vec![]));
        assert_eq!(d("_-8", Form::JWS).as_deref(), Some(&[0xff, 0xef][..]));
        for bad in [
            "YQ==", "YQ=", "YR", "Y Q", "Y+", "Y/", "Y", "YQ\n", "Y\u{e9}", "=", "YWJj=",
        ] {
            assert_eq!(d(bad, Form::JWS), None, "JWS must refuse {bad:?}");
        }
        // Signatures: padded standard base64, canonical.
        assert_eq!(d("YQ==", Form::SIGNATURE).as_deref(), Some(&b"a"[..]));
        assert_eq!(d("YWI=", Form::SIGNATURE).as_deref(), Some(&b"ab"[..]));
        assert_eq!(
            d("+/8=", Form::SIGNATURE).as_deref(),
            Some(&[0xfb, 0xff][..])
        );
        for bad in [
            "YQ", "YQ=", "YR==", "YWI", "Y===", "YQ===", "-_8=", "YWJj====",
        ] {
            assert_eq!(
                d(bad, Form::SIGNATURE),
                None,
                "a signature must not be {bad:?}"
            );
        }
        // Webhook keys: padding optional, unused bits ignored.
        for ok in ["YQ", "YQ=", "YQ==", "YR", "YR=="] {
            assert_eq!(
                d(ok, Form::WEBHOOK_KEY).as_deref(),
                Some(&b"a"[..]),
                "{ok:?}"
            );
        }
        for bad in ["Y", "Y=", "YQ===", "YWJj=", "-_", "YQ==YQ=="] {
            assert_eq!(
                d(bad, Form::WEBHOOK_KEY),
                None,
                "a webhook key must not be {bad:?}"
            );
        }
        // Secrets: one alphabet each, no padding, canonical.
        assert_eq!(
            d("-_8", Form::SECRET_URL).as_deref(),
            Some(&[0xfb, 0xff][..])
        );
        assert_eq!(
            d("+/8", Form::SECRET_STANDARD).as_deref(),
            Some(&[0xfb, 0xff][..])
        );
        assert_eq!(d("+/8", Form::SECRET_URL), None);
        assert_eq!(d("-_8", Form::SECRET_STANDARD), None);
    }

    #[test]
    fn appending_keeps_what_was_there_and_needs_no_reallocation() {
        let mut out = b"x".to_vec();
        assert_eq!(decode_append(b"YQ", Form::JWS, &mut out), Some(1));
        assert_eq!(decode_append(b"", Form::JWS, &mut out), Some(2));
        assert_eq!(decode_append(b"YWI", Form::JWS, &mut out), Some(2));
        assert_eq!(out, b"xaab");
        for bad in ["YQ==", "YR", "Y+", "Y", "YWJjZA!"] {
            assert_eq!(
                decode_append(bad.as_bytes(), Form::JWS, &mut out),
                None,
                "{bad:?}"
            );
            assert_eq!(out, b"xaab", "a refused input leaves the buffer as it was");
        }
        for n in 0..64 {
            let mut v = Vec::with_capacity(decode_capacity(n));
            let cap = v.capacity();
            let _ = decode_append("A".repeat(n).as_bytes(), Form::JWS, &mut v);
            assert_eq!(v.capacity(), cap, "no reallocation for {n} characters");
        }
    }

    /// Inputs near the alphabets: mostly base64 characters of both alphabets, with padding and a
    /// few others mixed in, so the interesting refusals come up often.
    fn near_base64() -> impl Strategy<Value = Vec<u8>> {
        let ch = prop_oneof![
            20 => prop::sample::select(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".to_vec()
            ),
            2 => prop::sample::select(b"+/-_".to_vec()),
            2 => Just(b'='),
            1 => any::<u8>(),
        ];
        prop::collection::vec(ch, 0..24)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn every_form_decodes_exactly_as_the_reference_engine(input in near_base64()) {
            for (form, engine) in forms() {
                prop_assert_eq!(
                    decode(&input, form),
                    engine.decode(&input).ok(),
                    "{:?} on {:?}", form, String::from_utf8_lossy(&input)
                );
            }
        }

        #[test]
        fn every_byte_string_round_trips_through_its_one_encoding(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let text = encode_url(&bytes);
            prop_assert_eq!(&text, &URL_SAFE_NO_PAD.encode(&bytes));
            prop_assert_eq!(decode(text.as_bytes(), Form::JWS), Some(bytes.clone()));
            let padded = STANDARD.encode(&bytes);
            prop_assert_eq!(decode(padded.as_bytes(), Form::SIGNATURE), Some(bytes));
        }
    }
}

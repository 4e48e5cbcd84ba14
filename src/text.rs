//! Small text helpers for the request path: substring search for short, fixed needles (`://`,
//! `//`, `text/html`), decimal numbers without `core::fmt`, and a word-wise byte comparison.
//!
//! `str::find` with a `&str` pattern runs core's two-way searcher. On the request path that
//! costs twice:
//! - a fresh isolate's first request compiles its three functions, about 8 KiB of machine code
//!   (`bench/experiments/first-request-code.sh`);
//! - every call builds the searcher, for needles of two to nine bytes.
//!
//! The measurements are in docs/PERFORMANCE.md, "Session 13". A plain byte scan has neither
//! cost. Configuration parsing may keep `str`'s own methods: it runs once.

/// Byte offset of the first occurrence of `needle` in `hay`, as `hay.find(needle)` would give.
/// Needles are a few bytes: every start position is tried (O(len × needle)).
pub fn find(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() {
        return Some(0);
    }
    h.windows(n.len()).position(|w| w == n)
}

/// `parts` joined with `sep`, as `parts.join(sep)` would give. std's join copies through a
/// generic routine specialised by separator length: 4.4 KiB of machine code per element type
/// that a fresh isolate's first request compiled (docs/PERFORMANCE.md, session 21).
pub fn join<S: AsRef<str>>(parts: &[S], sep: &str) -> String {
    let len = parts.iter().map(|p| p.as_ref().len()).sum::<usize>()
        + sep.len() * parts.len().saturating_sub(1);
    let mut out = String::with_capacity(len);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(p.as_ref());
    }
    out
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &str, needle: &str) -> bool {
    find(hay, needle).is_some()
}

/// `n` in decimal, written into the end of `buf` (20 digits hold any `u64`). `to_string()` goes
/// through `core::fmt`'s machinery, ~1.4 k instructions a call in wasm (docs/PERFORMANCE.md,
/// session 16).
pub fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    core::str::from_utf8(&buf[i..]).unwrap_or("0")
}

/// Appends `n` in decimal.
pub fn push_decimal(out: &mut String, n: u64) {
    out.push_str(decimal(n, &mut [0; 20]));
}

/// `n` in decimal, as a new string.
pub fn decimal_string(n: u64) -> String {
    decimal(n, &mut [0; 20]).to_owned()
}

/// `name[i]`: the name a configuration problem is reported under for one item of a list. Built
/// for every item, problem or not, so not by `format!`: a fresh isolate's configuration would
/// compile `core::fmt` for it (issue 23).
pub fn indexed(name: &str, i: usize) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    out.push_str(name);
    out.push('[');
    push_decimal(&mut out, i as u64);
    out.push(']');
    out
}

/// `a == b`, eight bytes at a time: in wasm, slice equality calls compiler_builtins' `memcmp`,
/// which compares a byte per iteration. Not constant-time: for public bytes only (the decision
/// cache's signed parts), never for secrets.
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let whole = a.len() - a.len() % 8;
    let mut i = 0;
    while i < whole {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    a[whole..] == b[whole..]
}

/// The eight bytes of `s` at `i` as one little-endian word (one 64-bit load in wasm).
#[inline(always)]
fn word(s: &[u8], i: usize) -> u64 {
    // Not `copy_from_slice`: wasm's `memory.copy`, which V8 runs as a call out of wasm.
    match s[i..].first_chunk::<8>() {
        Some(w) => u64::from_le_bytes(*w),
        None => 0,
    }
}

/// Whether `s` holds a CR, LF or NUL: what no header value may carry (a line of the envelope's
/// canonical text, or a field of a Worker plan, could be forged with one). Eight bytes at a time
/// (the classic "has a zero byte" test on the word XOR each byte), where a byte loop costs several
/// instructions a byte in wasm; every forwarded request scans a few hundred bytes of values.
pub fn has_cr_lf_or_nul(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let whole = s.len() - s.len() % 8;
    let mut i = 0;
    while i < whole {
        let x = word(s, i);
        if has_zero_byte(x) || has_zero_byte(x ^ (ONES * 0x0d)) || has_zero_byte(x ^ (ONES * 0x0a))
        {
            return true;
        }
        i += 8;
    }
    s[whole..]
        .iter()
        .any(|&b| b == b'\r' || b == b'\n' || b == 0)
}

/// Whether every byte of `s` is printable ASCII other than space (`u8::is_ascii_graphic`,
/// 0x21–0x7e), eight bytes at a time: a bearer token is checked on every request (~400 bytes).
pub fn all_ascii_graphic(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let whole = s.len() - s.len() % 8;
    let mut i = 0;
    while i < whole {
        let x = word(s, i);
        // A byte below 0x21 (exact for bounds up to 0x80), or above 0x7e (adding one sets its
        // high bit; a byte with it already set is caught by `| x`).
        let below = x.wrapping_sub(ONES * 0x21) & !x & HIGHS;
        let above = (x.wrapping_add(ONES) | x) & HIGHS;
        if below | above != 0 {
            return false;
        }
        i += 8;
    }
    s[whole..].iter().all(u8::is_ascii_graphic)
}

/// Whether any byte of `x` is zero (exact: a borrow can only mark bytes above a zero byte).
#[inline(always)]
fn has_zero_byte(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    x.wrapping_sub(ONES) & !x & HIGHS != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_indexed_name_is_what_format_writes() {
        for (name, i) in [
            ("ISSUERS", 0),
            ("rules", 7),
            ("secrets", 10),
            ("", usize::MAX),
        ] {
            assert_eq!(indexed(name, i), format!("{name}[{i}]"));
        }
    }

    #[test]
    fn finds_what_str_find_finds() {
        for (hay, needle) in [
            ("https://a.test/x", "://"),
            ("/a//b", "//"),
            ("/a/b", "//"),
            ("", "//"),
            ("/", "//"),
            ("text/html,application/xhtml+xml", "text/html"),
            ("application/json", "text/html"),
            ("abc", ""),
            ("ééé://x", "://"),
        ] {
            assert_eq!(find(hay, needle), hay.find(needle), "{hay:?} {needle:?}");
        }
    }

    proptest! {
        /// Same answer as `str::find` on any text and any needle of up to 9 characters.
        #[test]
        fn agrees_with_str_find(hay in "[a-c:/%.é]{0,40}", needle in "[a-c:/%.é]{0,9}") {
            prop_assert_eq!(find(&hay, &needle), hay.find(needle.as_str()));
            prop_assert_eq!(contains(&hay, &needle), hay.contains(needle.as_str()));
        }
    }

    proptest! {
        /// Same text as `[S]::join`, with any parts and any separator (empty ones included).
        #[test]
        fn join_agrees_with_std(
            parts in proptest::collection::vec("[a-cé,\n]{0,6}", 0..6),
            sep in "[,\n é]{0,3}",
        ) {
            prop_assert_eq!(join(&parts, &sep), parts.join(sep.as_str()));
            let borrowed: Vec<&str> = parts.iter().map(String::as_str).collect();
            prop_assert_eq!(join(&borrowed, &sep), borrowed.join(sep.as_str()));
        }
    }

    #[test]
    fn decimals_are_what_display_writes() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            1_700_000_000,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            assert_eq!(decimal_string(n), n.to_string());
            let mut s = String::from("x");
            push_decimal(&mut s, n);
            assert_eq!(s, format!("x{n}"));
        }
    }

    proptest! {
        #[test]
        fn decimal_agrees_with_display(n in any::<u64>()) {
            prop_assert_eq!(decimal_string(n), n.to_string());
        }

        /// The word-wise check is `is_ascii_graphic` on every byte: graphic text passes, and one
        /// byte from just outside the range (or anywhere) put in it fails it.
        #[test]
        fn the_word_graphic_check_is_the_byte_check(
            graphic in prop::collection::vec(0x21u8..=0x7e, 0..40),
            at in any::<prop::sample::Index>(),
            other in prop_oneof![Just(0x20u8), Just(0x7f), Just(0x80), Just(0xff), Just(0), any::<u8>()],
            any_bytes in prop::collection::vec(any::<u8>(), 0..40),
        ) {
            prop_assert!(all_ascii_graphic(&graphic));
            let mut dirty = graphic.clone();
            dirty.insert(at.index(graphic.len() + 1), other);
            prop_assert_eq!(all_ascii_graphic(&dirty), other.is_ascii_graphic());
            prop_assert_eq!(all_ascii_graphic(&any_bytes), any_bytes.iter().all(u8::is_ascii_graphic));
        }

        /// Word-wise equality is slice equality: a copy is equal, a copy with one bit flipped
        /// anywhere is not, and slices of other lengths are not.
        #[test]
        fn same_bytes_is_slice_equality(
            a in prop::collection::vec(any::<u8>(), 0..40),
            flip in prop::option::of((any::<prop::sample::Index>(), 0..8u32)),
            other in prop::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut b = a.clone();
            if let (Some((at, bit)), false) = (flip, a.is_empty()) {
                b[at.index(a.len())] ^= 1 << bit;
            }
            prop_assert_eq!(same_bytes(&a, &b), a == b);
            prop_assert_eq!(same_bytes(&a, &other), a == other);
        }
    }

    proptest! {
        /// The word-wise scan finds exactly what a byte loop finds: text of near misses (bytes
        /// one bit away from CR, LF or NUL) has none; one of the three put anywhere in it is found.
        #[test]
        fn the_word_scan_is_the_byte_scan(
            clean in prop::collection::vec(
                prop_oneof![
                    Just(0x01u8), Just(0x0b), Just(0x0c), Just(0x09), Just(0x8d), Just(0x8a),
                    Just(0x80), Just(0x2d), 0x20u8..0x7f,
                ],
                0..40,
            ),
            at in any::<prop::sample::Index>(),
            target in prop_oneof![Just(0u8), Just(b'\r'), Just(b'\n')],
            any_bytes in prop::collection::vec(any::<u8>(), 0..40),
        ) {
            prop_assert!(!has_cr_lf_or_nul(&clean));
            let mut dirty = clean.clone();
            dirty.insert(at.index(clean.len() + 1), target);
            prop_assert!(has_cr_lf_or_nul(&dirty));
            let naive = |b: &[u8]| b.iter().any(|&c| c == b'\r' || c == b'\n' || c == 0);
            prop_assert_eq!(has_cr_lf_or_nul(&any_bytes), naive(&any_bytes));
        }
    }
}

//! Substring search for the short, fixed needles of the request path (`://`, `//`,
//! `text/html`).
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

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &str, needle: &str) -> bool {
    find(hay, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
}

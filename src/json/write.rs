//! Writing JSON: the objects the edge emits (log lines, error bodies) built member by member,
//! in the order written. Every member name is a literal of ours; every string value is escaped
//! as RFC 8259 §7 asks (and byte for byte as serde_json writes it: `\"`, `\\`, the short
//! escapes, `\u00XX` for the other control characters, everything else as is).
//!
//! Why not serde_json: the Worker only ever writes flat objects of strings and integers, and
//! serde_json's writer brought its `Value` tree (a `BTreeMap` per line), float formatting (a
//! 12 KB power table) and their code into the upload (docs/PERFORMANCE.md, session 12). The
//! native side (origin, tests, fuzzing) keeps serde_json.

use core::fmt::Write as _;

/// A JSON object being written. `Object::new().str("event", "breaker").finish()` is
/// `{"event":"breaker"}`.
#[must_use = "an object is written only by finish()"]
pub(crate) struct Object(String);

impl Object {
    pub(crate) fn new() -> Object {
        let mut s = String::with_capacity(96);
        s.push('{');
        Object(s)
    }

    fn name(&mut self, name: &'static str) {
        debug_assert!(
            name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "member names are plain literals: {name:?}"
        );
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push('"');
        self.0.push_str(name);
        self.0.push_str("\":");
    }

    /// A string member.
    pub(crate) fn str(mut self, name: &'static str, value: &str) -> Object {
        self.name(name);
        string(&mut self.0, value);
        self
    }

    /// An integer member.
    pub(crate) fn num(mut self, name: &'static str, value: u64) -> Object {
        self.name(name);
        let _ = write!(self.0, "{value}");
        self
    }

    pub(crate) fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

/// Appends `value` as a JSON string, quotes included.
pub(crate) fn string(out: &mut String, value: &str) {
    out.reserve(value.len() + 2);
    out.push('"');
    let bytes = value.as_bytes();
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // Every byte escaped is ASCII, so `from..i` is on character boundaries.
        out.push_str(&value[from..i]);
        if short.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        } else {
            out.push_str(short);
        }
        from = i + 1;
    }
    out.push_str(&value[from..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn quoted(s: &str) -> String {
        let mut out = String::new();
        string(&mut out, s);
        out
    }

    #[test]
    fn members_in_the_order_written() {
        let line = Object::new()
            .str("event", "jwks_fetched")
            .num("keys", 3)
            .str("issuer", "https://id.example")
            .num("max", u64::MAX)
            .finish();
        assert_eq!(
            line,
            r#"{"event":"jwks_fetched","keys":3,"issuer":"https://id.example","max":18446744073709551615}"#
        );
        assert_eq!(Object::new().finish(), "{}");
    }

    #[test]
    fn escapes_as_rfc_8259_asks() {
        assert_eq!(quoted(""), r#""""#);
        assert_eq!(quoted("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quoted("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
        assert_eq!(quoted("\u{0}\u{1f}\u{7f}"), "\"\\u0000\\u001f\u{7f}\"");
        assert_eq!(quoted("é ✓ 😀 </script>"), "\"é ✓ 😀 </script>\"");
    }

    proptest! {
        /// Byte for byte what serde_json writes, for any string (the origin reads these lines
        /// and bodies with serde_json; tests compare against it).
        #[test]
        fn strings_are_written_as_serde_json_writes_them(
            chars in prop::collection::vec(prop_oneof![any::<char>(), (0u8..0x20).prop_map(char::from)], 0..40)
        ) {
            let s: String = chars.into_iter().collect();
            prop_assert_eq!(quoted(&s), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn an_object_reads_back_with_every_member(a in any::<String>(), b in any::<String>(), n in any::<u64>()) {
            let line = Object::new().str("a", &a).num("n", n).str("b", &b).finish();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            prop_assert_eq!(v["a"].as_str(), Some(a.as_str()));
            prop_assert_eq!(v["b"].as_str(), Some(b.as_str()));
            prop_assert_eq!(v["n"].as_u64(), Some(n));
            prop_assert_eq!(v.as_object().unwrap().len(), 3);
        }
    }
}

//! Writing JSON: the objects the edge emits (log lines, error bodies) built member by member,
//! names in ascending order — the order serde_json's map wrote them in, so every line and body
//! is byte for byte what it was when serde_json wrote it (operators' filters and our tests match
//! on that text). Every member name is a literal of ours; every string value is escaped
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
pub(crate) struct Object {
    out: String,
    /// The last member name written (checked in debug builds: names come in ascending order).
    #[cfg(debug_assertions)]
    last: &'static str,
}

impl Object {
    pub(crate) fn new() -> Object {
        let mut out = String::with_capacity(96);
        out.push('{');
        Object {
            out,
            #[cfg(debug_assertions)]
            last: "",
        }
    }

    fn name(&mut self, name: &'static str) {
        #[cfg(debug_assertions)]
        {
            assert!(
                name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                "member names are plain literals: {name:?}"
            );
            assert!(
                self.last < name,
                "members in ascending order: {name:?} after {:?}",
                self.last
            );
            self.last = name;
        }
        if self.out.len() > 1 {
            self.out.push(',');
        }
        self.out.push('"');
        self.out.push_str(name);
        self.out.push_str("\":");
    }

    /// A string member.
    pub(crate) fn str(mut self, name: &'static str, value: &str) -> Object {
        self.name(name);
        string(&mut self.out, value);
        self
    }

    /// An integer member.
    pub(crate) fn num(mut self, name: &'static str, value: u64) -> Object {
        self.name(name);
        let _ = write!(self.out, "{value}");
        self
    }

    pub(crate) fn finish(mut self) -> String {
        self.out.push('}');
        self.out
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
    fn members_as_serde_json_wrote_them() {
        let line = Object::new()
            .str("event", "jwks_fetched")
            .str("issuer", "https://id.example")
            .num("keys", 3)
            .num("max", u64::MAX)
            .finish();
        let theirs = serde_json::json!({
            "event": "jwks_fetched",
            "issuer": "https://id.example",
            "keys": 3,
            "max": u64::MAX,
        });
        assert_eq!(line, theirs.to_string());
        assert_eq!(
            line,
            r#"{"event":"jwks_fetched","issuer":"https://id.example","keys":3,"max":18446744073709551615}"#
        );
        assert_eq!(Object::new().finish(), "{}");
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "members in ascending order")]
    fn a_name_out_of_order_is_a_bug_caught_in_tests() {
        let _ = Object::new().str("event", "x").str("detail", "y").finish();
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
            let line = Object::new().str("a", &a).str("b", &b).num("n", n).finish();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            prop_assert_eq!(v["a"].as_str(), Some(a.as_str()));
            prop_assert_eq!(v["b"].as_str(), Some(b.as_str()));
            prop_assert_eq!(v["n"].as_u64(), Some(n));
            prop_assert_eq!(v.as_object().unwrap().len(), 3);
        }
    }
}

//! Strict JSON objects: parsed through a visitor that refuses a repeated member name at any
//! depth, so two parsers can never disagree on which `alg` or `sub` a token carries.

use core::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A JSON value whose objects have unique member names.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a json value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Strict, E> {
        Ok(Strict(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Strict(Value::Array(out)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate member {key:?}")));
            }
            out.insert(key, v);
        }
        Ok(Strict(Value::Object(out)))
    }
}

/// Parses `bytes` as one JSON object with unique member names (at every depth).
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let Strict(v) = Strict::deserialize(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    match v {
        Value::Object(m) => Ok(m),
        _ => Err("not an object".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_members_are_refused_at_any_depth() {
        assert!(parse_object(br#"{"a":1,"b":{"c":[1,{"d":2}]}}"#).is_ok());
        assert!(parse_object(br#"{"a":1,"a":1}"#).is_err());
        assert!(parse_object(br#"{"a":{"b":1,"b":2}}"#).is_err());
        assert!(parse_object(br#"{"a":[{"b":1,"b":2}]}"#).is_err());
        // An escaped spelling of the same name is the same name.
        assert!(parse_object(br#"{"alg":"HS256","\u0061lg":"none"}"#).is_err());
    }

    #[test]
    fn only_a_single_object_is_accepted() {
        for bad in [&b"[]"[..], b"1", b"\"x\"", b"{} {}", b"{", b"", b"null"] {
            assert!(
                parse_object(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(parse_object(b" {} ").is_ok());
    }

    /// The token parser scans with `crate::json`; this serde-based parser reads JWKS. Both
    /// must accept and refuse the same documents, checked on seeds and every one-byte
    /// truncation, deletion and substitution of them.
    #[test]
    fn the_scanner_and_this_parser_agree() {
        let seeds: [&[u8]; 6] = [
            br#"{"alg":"HS256","kid":"k1","typ":"JWT"}"#,
            br#"{"iss":"https://i.example","aud":["a","b"],"exp":1893456600.5,"nbf":-0,"x":null,"y":true,"z":false}"#,
            br#" {"a":{"b":[1,2,{"c":"\u00e9\ud83d\ude00\n"}]},"e":1e-3,"f":"\"\\\/"} "#,
            br#"{"sub":"\u0073","s":"\u0073ub"}"#,
            "{\"é\":\"ü\"}".as_bytes(),
            br#"{"a":[[],{}],"b":0,"c":-12.5E+2}"#,
        ];
        let replacements = b"{}[]\",:\\u0123456789abcdefABCDEF-+.eE tnrfx \x01\x7f\xc3\xa9\xff";
        let agree = |doc: &[u8]| {
            let ours = crate::json::scan_object(doc, |_, _| {}).is_ok();
            let theirs = parse_object(doc).is_ok();
            assert_eq!(ours, theirs, "{:?}", String::from_utf8_lossy(doc));
        };
        let mut checked = 0;
        for seed in seeds {
            agree(seed);
            for i in 0..seed.len() {
                agree(&seed[..i]);
                let mut deleted = seed.to_vec();
                deleted.remove(i);
                agree(&deleted);
                for &r in replacements {
                    let mut changed = seed.to_vec();
                    changed[i] = r;
                    agree(&changed);
                    checked += 1;
                }
            }
        }
        assert!(checked > 10_000);
    }
}

//! The strict JSON scanner (src/json.rs), differential against serde_json: on every document
//! serde_json accepts without a repeated member name, ours accepts and reads the same value;
//! every document ours accepts, serde_json accepts; the top-level reader reports the object's
//! names in order; `leading_member` finds each member's value; the scan's memory is bounded.
#![no_main]

use edge_auth::fuzzing::{json_accepts, json_leading_member, json_object_names, json_value};
use edge_auth_fuzz::{assert_bounded, peak_during};
use libfuzzer_sys::fuzz_target;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// serde_json's reading with repeated member names refused (serde_json's `Value` keeps the last).
struct Strict(Value);

impl<'de> de::Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any json value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = a.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some((k, Strict(v))) = a.next_entry::<String, Strict>()? {
            if out.insert(k, v).is_some() {
                return Err(de::Error::custom("repeated member name"));
            }
        }
        Ok(Value::Object(out))
    }
}

fuzz_target!(|data: &[u8]| {
    let (accepted, peak) = peak_during(|| json_accepts(data));
    // The scanner keeps one name per member of the objects it is inside (to refuse repeats),
    // never a tree: a few bytes per input byte at most.
    assert_bounded("json scan", data.len(), peak, 16, 1024);

    let ours = json_value(data);
    assert_eq!(accepted, ours.is_ok(), "parse and the node reader disagree");
    let theirs = serde_json::from_slice::<Strict>(data).map(|s| s.0);
    match (&ours, &theirs) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "both accept, values differ"),
        (Ok(a), Err(e)) => panic!("ours accepts what serde_json refuses ({e}): {a:?}"),
        (Err(e), Ok(b)) => panic!("ours refuses ({e}) what serde_json accepts: {b:?}"),
        (Err(_), Err(_)) => {}
    }

    let names = json_object_names(data);
    match (&ours, &names) {
        (Ok(Value::Object(map)), Ok(names)) => {
            assert_eq!(names.len(), map.len(), "top-level names");
            for name in names {
                let key = std::str::from_utf8(name).expect("names are utf-8");
                let v = map.get(key).expect("a reported name is a member");
                assert_eq!(
                    json_leading_member(data, name).as_ref(),
                    Some(v),
                    "leading_member {key:?}"
                );
            }
        }
        (Ok(Value::Object(_)), Err(e)) => panic!("object refused by scan_object: {e}"),
        (_, Ok(_)) => panic!("scan_object accepted what parse did not read as an object"),
        (_, Err(_)) => {}
    }
});

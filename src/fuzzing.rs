//! Entry points for the fuzz targets in `fuzz/` (not an API: hidden, and only what a harness
//! needs that the public API does not already give). The JSON scanner is private to the crate;
//! this reads a document it accepted back as a `serde_json::Value`, so a harness can compare
//! the two parsers value for value.

use crate::json::{self, Kind, Node};

/// `src` read by the crate's scanner ([`json::parse`]) and rebuilt as a `serde_json::Value`
/// through the same accessors the configuration readers use. Numbers are handed to serde_json
/// as written (our scanner checks their grammar; their value is serde_json's reading).
pub fn json_value(src: &[u8]) -> Result<serde_json::Value, String> {
    let node = json::parse(src).map_err(|e| e.to_string())?;
    to_value(node)
}

/// Whether [`json::parse`] accepts `src` (the scan alone: what its allocations are measured on).
pub fn json_accepts(src: &[u8]) -> bool {
    json::parse(src).is_ok()
}

/// The top-level member names [`json::scan_object`] reports (escapes resolved), or its refusal.
pub fn json_object_names(src: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut names = Vec::new();
    json::scan_object(src, |name, _| names.push(name.to_vec())).map_err(|e| e.to_string())?;
    Ok(names)
}

/// What [`json::leading_member`] finds for `name`: the member's value as a `serde_json::Value`.
pub fn json_leading_member(src: &[u8], name: &[u8]) -> Option<serde_json::Value> {
    let span = json::leading_member(src, name)?;
    let text = src.get(span.range())?;
    match span.kind() {
        // A string's span is between its quotes.
        Kind::String => json::string(src, span).map(|s| serde_json::Value::String(s.into_owned())),
        _ => serde_json::from_slice(text).ok(),
    }
}

fn to_value(node: Node<'_>) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    Ok(match node.kind() {
        Kind::Null => Value::Null,
        Kind::Bool => Value::Bool(node.as_bool().ok_or("bool unreadable")?),
        Kind::String => Value::String(node.as_str().ok_or("string unreadable")?.into_owned()),
        Kind::Number => {
            let text = node.number_text().ok_or("number unreadable")?;
            serde_json::from_str(text).map_err(|e| format!("number {text:?}: {e}"))?
        }
        Kind::Array => Value::Array(
            node.items()
                .ok_or("array unreadable")?
                .map(to_value)
                .collect::<Result<_, _>>()?,
        ),
        Kind::Object => {
            let mut map = serde_json::Map::new();
            for (name, v) in node.members().ok_or("object unreadable")? {
                if map.insert(name.into_owned(), to_value(v)?).is_some() {
                    return Err("a repeated member name was read back".into());
                }
            }
            Value::Object(map)
        }
    })
}

/// `input` decoded in each of the edge's base64 forms (`src/b64.rs`), in this order: JWS
/// segments, Standard Webhooks signatures, Standard Webhooks keys, URL-safe secrets, standard
/// secrets.
pub fn base64_forms(input: &[u8]) -> [Option<Vec<u8>>; 5] {
    use crate::b64::{decode, Form};
    [
        Form::JWS,
        Form::SIGNATURE,
        Form::WEBHOOK_KEY,
        Form::SECRET_URL,
        Form::SECRET_STANDARD,
    ]
    .map(|form| decode(input, form))
}

/// Unpadded base64url as the edge writes it (`src/b64.rs`).
pub fn base64_url(bytes: &[u8]) -> String {
    crate::b64::encode_url(bytes)
}

/// The packed configuration's body (what follows the digest) for `get`'s variables: what the
/// `packed_config` target edits.
pub fn packed_body(get: &dyn Fn(&str) -> Option<String>) -> Vec<u8> {
    let packed = crate::config::EdgeConfig::packed(get).expect("the harness's variables load");
    crate::b64::decode_url(&packed[3..]).expect("a pack is base64url")[32..].to_vec()
}

/// A pack for `get`'s variables (their digest) around any `body`.
pub fn pack_around(get: &dyn Fn(&str) -> Option<String>, body: &[u8]) -> String {
    crate::config::pack_around(get, body)
}

/// A configuration's packed body, written anew.
pub fn repacked(c: &crate::config::EdgeConfig) -> Vec<u8> {
    crate::config::repacked(c)
}

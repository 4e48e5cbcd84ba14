//! The call frame's golden encodings (`tests/vectors/frame/frames.json`, written by
//! `tests/gen/frame/generate.py` from the spec) against the Rust reader and writer
//! (`edge_auth::call_frame`). `node --test tests/js/` checks the same file against the JS side.

use edge_auth::call_frame::{Malformed, Reader, Writer};
use serde_json::Value;

fn vectors() -> Value {
    let path = format!(
        "{}/tests/vectors/frame/frames.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("vector file")).expect("vector JSON")
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn the_writer_encodes_every_case_byte_for_byte() {
    let v = vectors();
    let cases = v["cases"].as_array().expect("cases");
    assert!(cases.len() >= 8);
    for c in cases {
        let mut w = Writer::new();
        for f in c["fields"].as_array().expect("fields") {
            w = match (f.get("text"), f.get("hex")) {
                (Some(t), _) => w.str(t.as_str().expect("text")),
                (_, Some(h)) => w.bytes(Some(&hex(h.as_str().expect("hex")))),
                _ => w.text(None),
            };
        }
        assert_eq!(
            w.finish(),
            hex(c["encoded"].as_str().expect("encoded")),
            "{}",
            c["name"]
        );
    }
}

#[test]
fn the_reader_decodes_every_case_and_nothing_more() {
    for c in vectors()["cases"].as_array().expect("cases") {
        let bytes = hex(c["encoded"].as_str().expect("encoded"));
        let mut r = Reader::new(&bytes);
        for f in c["fields"].as_array().expect("fields") {
            match (f.get("text"), f.get("hex")) {
                (Some(t), _) => assert_eq!(r.text(), Ok(t.as_str()), "{}", c["name"]),
                (_, Some(h)) => assert_eq!(
                    r.bytes(),
                    Ok(Some(&hex(h.as_str().expect("hex"))[..])),
                    "{}",
                    c["name"]
                ),
                _ => assert_eq!(r.bytes(), Ok(None), "{}", c["name"]),
            }
        }
        assert_eq!(r.end(), Ok(()), "{}", c["name"]);
    }
}

#[test]
fn the_reader_refuses_every_malformed_frame() {
    for c in vectors()["malformed"].as_array().expect("malformed") {
        let bytes = hex(c["encoded"].as_str().expect("encoded"));
        let mut r = Reader::new(&bytes);
        let mut refused = false;
        for read in c["reads"].as_array().expect("reads") {
            let got = match read.as_str().expect("read") {
                "text" => r.text().map(|_| ()),
                "bytes" => r.bytes().map(|_| ()),
                "required" => r.required().map(|_| ()),
                other => panic!("unknown read {other}"),
            };
            if got == Err(Malformed) {
                refused = true;
                break;
            }
        }
        assert!(refused || r.end() == Err(Malformed), "{}", c["name"]);
    }
}

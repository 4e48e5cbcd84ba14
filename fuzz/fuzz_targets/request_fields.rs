//! The request-fields decoder (src/request_fields.rs): the NUL-separated string and absent
//! mask the Worker's JS hands to wasm. Properties: it accepts exactly the strings with ten
//! fields; each field reads back as the text between its separators (the encoder is a join by
//! NUL), an absent header reads as `None` and only then; no copy of the input is made.
#![no_main]

use edge_auth::request_fields::{Header, RequestFields};
use edge_auth_fuzz::{assert_bounded, peak_during, text};
use libfuzzer_sys::fuzz_target;

const HEADERS: [Header; 7] = Header::ALL;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let absent = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
    let raw = text(&data[4..]);
    let fields: Vec<&str> = raw.split('\0').collect();
    let (parsed, peak) = peak_during(|| RequestFields::parse(raw.clone(), absent));
    // The clone of `raw` passed in is kept; nothing else.
    assert_bounded("request fields", raw.len(), peak, 1, 256);
    let Some(parsed) = parsed else {
        assert_ne!(fields.len(), 10, "ten fields refused: {raw:?}");
        return;
    };
    assert_eq!(fields.len(), 10, "accepted {} fields", fields.len());
    assert_eq!(parsed.method(), fields[0]);
    assert_eq!(parsed.url(), fields[1]);
    assert_eq!(parsed.header_names(), fields[2]);
    for (i, h) in HEADERS.iter().enumerate() {
        let want = (absent & (1 << i) == 0).then_some(fields[3 + i]);
        assert_eq!(parsed.header(*h), want, "{h:?}");
    }
    // The round trip: joining what was read gives the input back.
    let mut again = vec![parsed.method(), parsed.url(), parsed.header_names()];
    again.extend(fields[3..].iter().copied());
    assert_eq!(again.join("\0"), raw);
});

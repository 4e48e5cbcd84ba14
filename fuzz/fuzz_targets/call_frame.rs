//! The call frame's reader (src/call_frame.rs) on any bytes: the first byte picks up to four
//! reads (two bits each: text, bytes, required text, stop), the rest is the frame. Never a panic;
//! what the reads return, the writer writes back as exactly the bytes they consumed; a frame
//! read to its end is written back whole; nothing is allocated to read.
#![no_main]

use edge_auth::call_frame::{Reader, Writer};
use edge_auth_fuzz::{assert_bounded, peak_during};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&plan, frame)) = data.split_first() else {
        return;
    };
    let ((fields, ended), peak) = peak_during(|| {
        let mut r = Reader::new(frame);
        let mut fields: Vec<Option<&[u8]>> = Vec::new();
        for i in 0..4 {
            let field = match (plan >> (2 * i)) & 3 {
                0 => r.text().map(|t| t.map(str::as_bytes)),
                1 => r.bytes(),
                2 => r.required().map(|t| Some(t.as_bytes())),
                _ => break,
            };
            match field {
                Ok(f) => fields.push(f),
                Err(_) => return (fields, None),
            }
        }
        (fields, Some(r.end().is_ok()))
    });
    // The reads allocate nothing but the list of what they returned.
    assert_bounded("call_frame", 0, peak, 0, 256);
    let written = fields
        .iter()
        .fold(Writer::new(), |w, f| w.bytes(*f))
        .finish();
    assert!(frame.starts_with(&written), "the fields read are the frame's first bytes");
    if ended == Some(true) {
        assert_eq!(written, frame, "a frame read to its end is written back whole");
    }
    for f in fields.iter().flatten() {
        let inside = frame.as_ptr_range();
        assert!(inside.contains(&f.as_ptr()) || f.is_empty(), "a field lies inside the frame");
    }
});

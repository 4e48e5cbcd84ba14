//! The edge's base64 (src/b64.rs), differential against the `base64` crate: each of its five
//! forms accepts exactly what the crate's engine configured the same way accepts, and decodes it to
//! the same bytes; whatever it writes, the JWS form reads back; its memory is bounded.
#![no_main]

use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD,
};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use edge_auth::fuzzing::{base64_forms, base64_url};
use edge_auth_fuzz::{assert_bounded, peak_during};
use libfuzzer_sys::fuzz_target;

/// The Standard Webhooks key form: padding optional, unused bits ignored.
const KEY: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

fuzz_target!(|data: &[u8]| {
    let (ours, peak) = peak_during(|| base64_forms(data));
    assert_bounded("base64", data.len(), peak, 4, 64);
    let engines = [URL_SAFE_NO_PAD, STANDARD, KEY, URL_SAFE_NO_PAD, STANDARD_NO_PAD];
    for (i, (got, engine)) in ours.iter().zip(engines).enumerate() {
        assert_eq!(got, &engine.decode(data).ok(), "form {i} on {data:?}");
    }
    let written = base64_url(data);
    assert_eq!(written, URL_SAFE_NO_PAD.encode(data));
    assert_eq!(base64_forms(written.as_bytes())[0].as_deref(), Some(data));
});

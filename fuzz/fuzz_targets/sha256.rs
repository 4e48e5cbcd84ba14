//! The edge's SHA-256 (src/sha256.rs), differential against `sha2`: the hash and the HMAC of any
//! input, fed in any pieces under any key, are `sha2`'s.
#![no_main]

use edge_auth::fuzzing::sha256_and_hmac;
use edge_auth_fuzz::{fields, hmac_sha256};
use libfuzzer_sys::fuzz_target;
use sha2::Digest;

fuzz_target!(|data: &[u8]| {
    // key \0 piece \0 piece ...: the key, then the message in pieces.
    let f = fields(data, 0, 8);
    let (key, parts) = f.split_first().map_or((&[][..], &[][..]), |(k, p)| (*k, p));
    let (hash, mac) = sha256_and_hmac(key, parts);
    let whole = parts.concat();
    assert_eq!(hash[..], sha2::Sha256::digest(&whole)[..], "hash of {} bytes", whole.len());
    assert_eq!(mac, hmac_sha256(key, parts), "hmac of {} bytes", whole.len());
});

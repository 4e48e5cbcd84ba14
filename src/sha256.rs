//! SHA-256 (FIPS 180-4) as a `digest` core, so `hmac::Hmac<Sha256>` and `Digest` work with it
//! exactly as with `sha2::Sha256`.
//!
//! Written here for one reason: `sha2`'s compression function unrolls all 64 rounds, 60 KiB of
//! machine code that every fresh isolate compiles on its first request (V8 compiles each wasm
//! function lazily, on its first call). This one runs the 64 rounds as four passes of 16 unrolled
//! rounds, the message schedule kept in 16 values updated in place between passes, so the
//! function is a quarter of the size and does the same work per block (issue 23;
//! docs/PERFORMANCE.md, session 20). `sha2` stays the reference: the tests compare every length
//! from 0 to 300 bytes, random inputs and the FIPS 180-4 examples with it, and HMAC with
//! `Hmac<sha2::Sha256>` (RFC 4231's vectors too). SHA-384 and SHA-512 (HS384/HS512) are
//! `sha2`'s.

use core::fmt;

use digest::block_buffer::Eager;
use digest::core_api::{
    AlgorithmName, Block, BlockSizeUser, Buffer, BufferKindUser, CoreWrapper, FixedOutputCore,
    OutputSizeUser, UpdateCore,
};
use digest::typenum::{U32, U64};
use digest::{HashMarker, Output, Reset};

/// SHA-256: `Digest`, and the hash of `hmac::Hmac<Sha256>`.
pub type Sha256 = CoreWrapper<Sha256Core>;

/// The running state: the eight words and how many 64-byte blocks went into them.
#[derive(Clone)]
pub struct Sha256Core {
    state: [u32; 8],
    blocks: u64,
}

/// FIPS 180-4 §5.3.3: the initial hash value.
const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// FIPS 180-4 §4.2.2: the round constants.
const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// One 64-byte block into `state` (FIPS 180-4 §6.2.2).
fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    // Literal indices throughout (no loop over `w`): the optimizer keeps the words in locals.
    let word = |i: usize| {
        u32::from_be_bytes([
            block[4 * i],
            block[4 * i + 1],
            block[4 * i + 2],
            block[4 * i + 3],
        ])
    };
    let mut w = [
        word(0),
        word(1),
        word(2),
        word(3),
        word(4),
        word(5),
        word(6),
        word(7),
        word(8),
        word(9),
        word(10),
        word(11),
        word(12),
        word(13),
        word(14),
        word(15),
    ];
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;

    // Round t with the words renamed instead of moved: after it, the caller's `h` is the new
    // `a` and `d` the new `e`. The indices are literals, so the 16 schedule words stay values
    // (wasm locals) rather than memory.
    macro_rules! round {
        ($k:ident, $i:literal, $a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident) => {
            let t1 = $h
                .wrapping_add($e.rotate_right(6) ^ $e.rotate_right(11) ^ $e.rotate_right(25))
                .wrapping_add($g ^ ($e & ($f ^ $g)))
                .wrapping_add($k[$i])
                .wrapping_add(w[$i]);
            let t2 = ($a.rotate_right(2) ^ $a.rotate_right(13) ^ $a.rotate_right(22))
                .wrapping_add(($a & $b) | ($c & ($a | $b)));
            $d = $d.wrapping_add(t1);
            $h = t1.wrapping_add(t2);
        };
    }
    // W[t] for the next pass, in place: w[i] holds W[t-16], w[i+1] W[t-15], w[i+9] W[t-7] and
    // w[i+14] W[t-2] (indices mod 16), and the ones before i are already the next pass's.
    macro_rules! schedule {
        ($i:literal) => {
            let w15 = w[($i + 1) % 16];
            let w2 = w[($i + 14) % 16];
            w[$i] = w[$i]
                .wrapping_add(w15.rotate_right(7) ^ w15.rotate_right(18) ^ (w15 >> 3))
                .wrapping_add(w[($i + 9) % 16])
                .wrapping_add(w2.rotate_right(17) ^ w2.rotate_right(19) ^ (w2 >> 10));
        };
    }

    for pass in 0..4 {
        let k = &K[pass * 16..pass * 16 + 16];
        round!(k, 0, a, b, c, d, e, f, g, h);
        round!(k, 1, h, a, b, c, d, e, f, g);
        round!(k, 2, g, h, a, b, c, d, e, f);
        round!(k, 3, f, g, h, a, b, c, d, e);
        round!(k, 4, e, f, g, h, a, b, c, d);
        round!(k, 5, d, e, f, g, h, a, b, c);
        round!(k, 6, c, d, e, f, g, h, a, b);
        round!(k, 7, b, c, d, e, f, g, h, a);
        round!(k, 8, a, b, c, d, e, f, g, h);
        round!(k, 9, h, a, b, c, d, e, f, g);
        round!(k, 10, g, h, a, b, c, d, e, f);
        round!(k, 11, f, g, h, a, b, c, d, e);
        round!(k, 12, e, f, g, h, a, b, c, d);
        round!(k, 13, d, e, f, g, h, a, b, c);
        round!(k, 14, c, d, e, f, g, h, a, b);
        round!(k, 15, b, c, d, e, f, g, h, a);
        if pass < 3 {
            schedule!(0);
            schedule!(1);
            schedule!(2);
            schedule!(3);
            schedule!(4);
            schedule!(5);
            schedule!(6);
            schedule!(7);
            schedule!(8);
            schedule!(9);
            schedule!(10);
            schedule!(11);
            schedule!(12);
            schedule!(13);
            schedule!(14);
            schedule!(15);
        }
    }

    let [sa, sb, sc, sd, se, sf, sg, sh] = state;
    *sa = sa.wrapping_add(a);
    *sb = sb.wrapping_add(b);
    *sc = sc.wrapping_add(c);
    *sd = sd.wrapping_add(d);
    *se = se.wrapping_add(e);
    *sf = sf.wrapping_add(f);
    *sg = sg.wrapping_add(g);
    *sh = sh.wrapping_add(h);
}

impl HashMarker for Sha256Core {}

impl BlockSizeUser for Sha256Core {
    type BlockSize = U64;
}

impl BufferKindUser for Sha256Core {
    type BufferKind = Eager;
}

impl OutputSizeUser for Sha256Core {
    type OutputSize = U32;
}

impl UpdateCore for Sha256Core {
    fn update_blocks(&mut self, blocks: &[Block<Self>]) {
        self.blocks += blocks.len() as u64;
        for block in blocks {
            compress(&mut self.state, block.as_ref());
        }
    }
}

impl FixedOutputCore for Sha256Core {
    fn finalize_fixed_core(&mut self, buffer: &mut Buffer<Self>, out: &mut Output<Self>) {
        let bit_len = 8 * (buffer.get_pos() as u64 + 64 * self.blocks);
        let state = &mut self.state;
        buffer.len64_padding_be(bit_len, |block| compress(state, block.as_ref()));
        for (bytes, word) in out.chunks_exact_mut(4).zip(self.state.iter()) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
    }
}

impl Default for Sha256Core {
    fn default() -> Self {
        Sha256Core {
            state: H0,
            blocks: 0,
        }
    }
}

impl Reset for Sha256Core {
    fn reset(&mut self) {
        *self = Self::default();
    }
}

impl AlgorithmName for Sha256Core {
    fn write_alg_name(f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sha256")
    }
}

impl fmt::Debug for Sha256Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Mid-hash state of secret material (an HMAC key's pads): never printed.
        f.write_str("Sha256Core { .. }")
    }
}

#[cfg(test)]
mod tests {
    use super::Sha256;
    use digest::Digest;
    use hmac::{Hmac, Mac};
    use proptest::prelude::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn the_fips_180_examples() {
        // FIPS 180-4 examples (NIST CSRC): "abc", the two-block message, and a million "a".
        let cases: [(&[u8], &str); 3] = [
            (
                b"abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
            (
                b"",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
        ];
        for (msg, want) in cases {
            assert_eq!(hex(&Sha256::digest(msg)), want);
        }
        let mut h = Sha256::new();
        for _ in 0..1000 {
            h.update([b'a'; 1000]);
        }
        assert_eq!(
            hex(&h.finalize()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    #[test]
    fn every_length_around_the_block_and_padding_edges_hashes_as_sha2_does() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for n in 0..=data.len() {
            assert_eq!(
                Sha256::digest(&data[..n])[..],
                sha2::Sha256::digest(&data[..n])[..],
                "{n} bytes"
            );
        }
    }

    #[test]
    fn hmac_matches_rfc_4231_and_sha2s() {
        // RFC 4231 test case 2 (a short key) and 6 (a key longer than the block).
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&[0xaa; 131]).unwrap();
        mac.update(b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(
            hex(&mac.finalize().into_bytes()),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    proptest! {
        #[test]
        fn any_input_in_any_pieces_hashes_and_macs_as_sha2_does(
            data in prop::collection::vec(any::<u8>(), 0..600),
            cut in any::<prop::sample::Index>(),
            key in prop::collection::vec(any::<u8>(), 0..100),
        ) {
            let at = cut.index(data.len() + 1);
            let mut ours = Sha256::new();
            ours.update(&data[..at]);
            ours.update(&data[at..]);
            prop_assert_eq!(ours.finalize()[..].to_vec(), sha2::Sha256::digest(&data)[..].to_vec());
            let mut ours = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
            ours.update(&data);
            let mut theirs = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).unwrap();
            theirs.update(&data);
            prop_assert_eq!(
                ours.finalize().into_bytes()[..].to_vec(),
                theirs.finalize().into_bytes()[..].to_vec()
            );
        }
    }
}

//! The packed configuration's byte format: what `edge-config-check --pack` writes at deploy and
//! a fresh isolate reads instead of parsing the JSON variables (`EDGE_CONFIG_PACKED`,
//! [`crate::config::EdgeConfig::from_packed`]). Issue 23: the JSON parsers are the largest code a
//! fresh isolate's first request compiled; reading this format needs a few small functions.
//!
//! Each configuration type packs and unpacks itself next to its definition (`pack` / `unpack`);
//! this module holds only the primitives. The readers a configuration calls many times are kept
//! out of line: inlined at every field, they made the code a fresh isolate compiles larger. Integers are LEB128, strings and byte strings
//! length-prefixed, options and lists a tag or count first. Unpacking never trusts a length: every
//! read is bounds-checked, anything short, overlong or not UTF-8 makes the whole input bad, and
//! the types rebuilt from it go through their checking constructors — a packed value that does
//! not decode is ignored (the JSON variables are parsed instead), never half-used.

/// Appends the packed form of values.
#[derive(Default)]
pub struct Packer {
    buf: Vec<u8>,
}

impl Packer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(u8::from(v))
    }

    /// LEB128: seven bits a byte, low first.
    pub fn u64(&mut self, mut v: u64) -> &mut Self {
        loop {
            let low = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.buf.push(low);
                return self;
            }
            self.buf.push(low | 0x80);
        }
    }

    pub fn usize(&mut self, v: usize) -> &mut Self {
        self.u64(v as u64)
    }

    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.usize(v.len());
        self.buf.extend_from_slice(v);
        self
    }

    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }

    pub fn opt_str(&mut self, v: Option<&str>) -> &mut Self {
        match v {
            None => self.u8(0),
            Some(s) => self.u8(1).str(s),
        }
    }

    pub fn opt_u64(&mut self, v: Option<u64>) -> &mut Self {
        match v {
            None => self.u8(0),
            Some(n) => self.u8(1).u64(n),
        }
    }

    pub fn strs(&mut self, v: &[String]) -> &mut Self {
        self.usize(v.len());
        for s in v {
            self.str(s);
        }
        self
    }
}

/// Reads packed values back. A read that finds no value of its kind (cut short, overlong, not
/// UTF-8, an unknown tag) gives a default and marks the whole input bad: every later read finds
/// nothing, and [`Unpacker::finish`] refuses it. Readers need no early return per field — each
/// one, with what it had allocated so far to drop, was code a fresh isolate compiled.
pub struct Unpacker<'a> {
    rest: &'a [u8],
    bad: bool,
}

impl<'a> Unpacker<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Unpacker {
            rest: bytes,
            bad: false,
        }
    }

    /// `Some` only if every read found its value and everything was read.
    pub fn finish(self) -> Option<()> {
        (!self.bad && self.rest.is_empty()).then_some(())
    }

    /// Marks the input bad (nothing more is read from it) and gives `T`'s default.
    #[cold]
    #[inline(never)]
    pub fn fail<T: Default>(&mut self) -> T {
        self.bad = true;
        self.rest = &[];
        T::default()
    }

    pub fn u8(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((&b, rest)) => {
                self.rest = rest;
                b
            }
            None => self.fail(),
        }
    }

    pub fn bool(&mut self) -> bool {
        match self.u8() {
            0 => false,
            1 => true,
            _ => self.fail(),
        }
    }

    /// LEB128, refusing more than 64 bits and non-minimal forms (one value, one encoding).
    #[inline(never)]
    pub fn u64(&mut self) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let Some((&b, rest)) = self.rest.split_first() else {
                break;
            };
            self.rest = rest;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                break;
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                if b == 0 && shift > 0 {
                    break;
                }
                return v;
            }
        }
        self.fail()
    }

    pub fn usize(&mut self) -> usize {
        let v = self.u64();
        usize::try_from(v).unwrap_or_else(|_| self.fail())
    }

    pub fn u32(&mut self) -> u32 {
        let v = self.u64();
        u32::try_from(v).unwrap_or_else(|_| self.fail())
    }

    #[inline(never)]
    pub fn bytes(&mut self) -> &'a [u8] {
        let n = self.usize();
        if n > self.rest.len() {
            return self.fail::<&[u8]>();
        }
        let (v, rest) = self.rest.split_at(n);
        self.rest = rest;
        v
    }

    #[inline(never)]
    pub fn str(&mut self) -> String {
        match core::str::from_utf8(self.bytes()) {
            Ok(s) => s.to_owned(),
            Err(_) => self.fail(),
        }
    }

    #[inline(never)]
    pub fn opt_str(&mut self) -> Option<String> {
        match self.u8() {
            0 => None,
            1 => Some(self.str()),
            _ => self.fail(),
        }
    }

    #[inline(never)]
    pub fn opt_u64(&mut self) -> Option<u64> {
        match self.u8() {
            0 => None,
            1 => Some(self.u64()),
            _ => self.fail(),
        }
    }

    /// A count of items still to read, refused when the input cannot hold that many (each item
    /// takes at least one byte), so a forged count cannot make a caller reserve memory.
    #[inline(never)]
    pub fn count(&mut self) -> usize {
        let n = self.usize();
        if n > self.rest.len() {
            return self.fail();
        }
        n
    }

    pub fn strs(&mut self) -> Vec<String> {
        self.list(|u| Some(u.str()))
    }

    /// A counted list of items, each read by `item`; one it refuses (`None`) marks the input bad.
    pub fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Option<T>) -> Vec<T> {
        let n = self.count();
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            match item(self) {
                Some(v) if !self.bad => out.push(v),
                _ => {
                    self.fail::<()>();
                    break;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn integers_have_one_encoding() {
        let mut p = Packer::new();
        p.u64(0).u64(127).u64(128).u64(u64::MAX);
        let bytes = p.into_bytes();
        assert_eq!(&bytes[..4], &[0, 0x7f, 0x80, 0x01]);
        let mut u = Unpacker::new(&bytes);
        assert_eq!(
            [u.u64(), u.u64(), u.u64(), u.u64()],
            [0, 127, 128, u64::MAX]
        );
        assert_eq!(u.finish(), Some(()));
        // Non-minimal (a trailing zero group), over 64 bits, cut short.
        let mut over = vec![0xff; 9];
        over.push(0x02);
        for bad in [
            &[0x80, 0x00][..],
            &[0xff; 10][..],
            &[0x80][..],
            &[][..],
            &over[..],
        ] {
            let mut u = Unpacker::new(bad);
            u.u64();
            assert_eq!(u.finish(), None, "{bad:?}");
        }
    }

    #[test]
    fn lengths_and_counts_are_checked_against_the_input() {
        // A string claiming 5 bytes with 2 present; a list claiming a billion items; not UTF-8;
        // unknown tags. Each gives a default and the input is refused.
        let mut p = Packer::new();
        p.usize(1_000_000_000);
        let billion = p.into_bytes();
        type Read = fn(&mut Unpacker<'_>);
        let reads: [(&[u8], Read); 5] = [
            (&[5, b'a', b'b'], |u| assert_eq!(u.str(), "")),
            (&billion, |u| assert!(u.strs().is_empty())),
            (&[1, 0xff], |u| assert_eq!(u.str(), "")),
            (&[2], |u| assert!(!u.bool())),
            (&[2, 0], |u| assert_eq!(u.opt_str(), None)),
        ];
        for (bytes, read) in reads {
            let mut u = Unpacker::new(bytes);
            read(&mut u);
            // Nothing more is read once the input is bad.
            assert_eq!(u.u8(), 0);
            assert_eq!(u.finish(), None, "{bytes:?}");
        }
        assert_eq!(Unpacker::new(&[0, 0]).finish(), None, "bytes left over");
        // An item its reader refuses ends the list and the input.
        let mut u = Unpacker::new(&[3, 1, 2, 3]);
        assert_eq!(u.list(|u| (u.u8() == 1).then_some(1)), vec![1]);
        assert_eq!(u.finish(), None);
    }

    proptest! {
        #[test]
        fn what_is_packed_unpacks(
            a in any::<u64>(), b in any::<bool>(), s in ".*", o in proptest::option::of(".*"),
            n in proptest::option::of(any::<u64>()), list in proptest::collection::vec(".*", 0..5),
            raw in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut p = Packer::new();
            p.u64(a).bool(b).str(&s).opt_str(o.as_deref()).opt_u64(n).strs(&list).bytes(&raw);
            let bytes = p.into_bytes();
            let mut u = Unpacker::new(&bytes);
            prop_assert_eq!(u.u64(), a);
            prop_assert_eq!(u.bool(), b);
            prop_assert_eq!(u.str(), s);
            prop_assert_eq!(u.opt_str(), o);
            prop_assert_eq!(u.opt_u64(), n);
            prop_assert_eq!(u.strs(), list);
            prop_assert_eq!(u.bytes(), &raw[..]);
            prop_assert_eq!(u.finish(), Some(()));
        }

        #[test]
        fn any_bytes_unpack_without_panicking(raw in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut u = Unpacker::new(&raw);
            let _ = (u.u64(), u.str(), u.strs(), u.opt_str(), u.bytes(), u.bool());
        }
    }
}

//! The packed configuration's byte format: what `edge-config-check --pack` writes at deploy and
//! a fresh isolate reads instead of parsing the JSON variables (`EDGE_CONFIG_PACKED`,
//! [`crate::config::EdgeConfig::from_packed`]). Issue 23: the JSON parsers are the largest code a
//! fresh isolate's first request compiled; reading this format needs a few small functions.
//!
//! Each configuration type packs and unpacks itself next to its definition (`pack` / `unpack`);
//! this module holds only the primitives. Integers are LEB128, strings and byte strings
//! length-prefixed, options and lists a tag or count first. Unpacking never trusts a length: every
//! read is bounds-checked and gives `None` on anything short, overlong or not UTF-8, and the
//! types rebuilt from it go through their checking constructors — a packed value that does not
//! decode is ignored (the JSON variables are parsed instead), never half-used.

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

/// Reads packed values back; every method is `None` when the input does not hold one.
pub struct Unpacker<'a> {
    rest: &'a [u8],
}

impl<'a> Unpacker<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Unpacker { rest: bytes }
    }

    /// `Some` only if everything was read.
    pub fn finish(self) -> Option<()> {
        self.rest.is_empty().then_some(())
    }

    pub fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(b)
    }

    pub fn bool(&mut self) -> Option<bool> {
        match self.u8()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    /// LEB128, refusing more than 64 bits and non-minimal forms (one value, one encoding).
    pub fn u64(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return None;
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return (b != 0 || shift == 0).then_some(v);
            }
        }
        None
    }

    pub fn usize(&mut self) -> Option<usize> {
        usize::try_from(self.u64()?).ok()
    }

    pub fn u32(&mut self) -> Option<u32> {
        u32::try_from(self.u64()?).ok()
    }

    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.usize()?;
        if n > self.rest.len() {
            return None;
        }
        let (v, rest) = self.rest.split_at(n);
        self.rest = rest;
        Some(v)
    }

    pub fn str(&mut self) -> Option<String> {
        core::str::from_utf8(self.bytes()?).ok().map(str::to_owned)
    }

    pub fn opt_str(&mut self) -> Option<Option<String>> {
        match self.u8()? {
            0 => Some(None),
            1 => self.str().map(Some),
            _ => None,
        }
    }

    pub fn opt_u64(&mut self) -> Option<Option<u64>> {
        match self.u8()? {
            0 => Some(None),
            1 => self.u64().map(Some),
            _ => None,
        }
    }

    /// A count of items still to read, refused when the input cannot hold that many (each item
    /// takes at least one byte), so a forged count cannot make a caller reserve memory.
    pub fn count(&mut self) -> Option<usize> {
        let n = self.usize()?;
        (n <= self.rest.len()).then_some(n)
    }

    pub fn strs(&mut self) -> Option<Vec<String>> {
        let n = self.count()?;
        (0..n).map(|_| self.str()).collect()
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
        assert_eq!(u.u64(), Some(0));
        assert_eq!(u.u64(), Some(127));
        assert_eq!(u.u64(), Some(128));
        assert_eq!(u.u64(), Some(u64::MAX));
        assert_eq!(u.finish(), Some(()));
        // Non-minimal (a trailing zero group), over 64 bits, cut short.
        for bad in [&[0x80, 0x00][..], &[0xff; 10][..], &[0x80][..], &[][..]] {
            assert_eq!(Unpacker::new(bad).u64(), None, "{bad:?}");
        }
        let mut over = vec![0xff; 9];
        over.push(0x02);
        assert_eq!(Unpacker::new(&over).u64(), None);
    }

    #[test]
    fn lengths_and_counts_are_checked_against_the_input() {
        // A string claiming 5 bytes with 2 present; a list claiming a billion items.
        assert_eq!(Unpacker::new(&[5, b'a', b'b']).str(), None);
        let mut p = Packer::new();
        p.usize(1_000_000_000);
        assert_eq!(Unpacker::new(&p.into_bytes()).strs(), None);
        assert_eq!(Unpacker::new(&[1, 0xff]).str(), None, "not UTF-8");
        assert_eq!(Unpacker::new(&[2]).bool(), None);
        assert_eq!(Unpacker::new(&[2]).opt_str(), None);
        assert_eq!(Unpacker::new(&[0, 0]).finish(), None, "bytes left over");
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
            prop_assert_eq!(u.u64(), Some(a));
            prop_assert_eq!(u.bool(), Some(b));
            prop_assert_eq!(u.str(), Some(s));
            prop_assert_eq!(u.opt_str(), Some(o));
            prop_assert_eq!(u.opt_u64(), Some(n));
            prop_assert_eq!(u.strs(), Some(list));
            prop_assert_eq!(u.bytes(), Some(&raw[..]));
            prop_assert_eq!(u.finish(), Some(()));
        }

        #[test]
        fn any_bytes_unpack_without_panicking(raw in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut u = Unpacker::new(&raw);
            let _ = (u.u64(), u.str(), u.strs(), u.opt_str(), u.bytes(), u.bool());
        }
    }
}

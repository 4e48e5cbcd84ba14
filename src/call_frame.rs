//! The call frame: how strings and bytes cross the JS↔wasm boundary, in both directions, as
//! one buffer. This module reads and writes it for the Rust side; `src/worker/frame.mjs` for the
//! JS side. Golden encodings live in `tests/vectors/frame/` and are checked by both (`cargo
//! test`, `node --test tests/js/`).
//!
//! # Why
//! Every `edge_*` export takes and returns numbers only. wasm-bindgen then writes a few lines of
//! glue per export instead of a string or byte-array conversion per argument, and a fresh
//! isolate pre-parses that glue whatever it calls (docs/PERFORMANCE.md, session 21: issue 23).
//! The strings and bytes of a call go through one buffer in wasm memory that JS fills with
//! `TextEncoder.encodeInto` and `Uint8Array.set` (no intermediate copy), and what a call answers
//! is read back with one `TextDecoder.decode`.
//!
//! # Format
//! A frame is a sequence of fields. Each is a 4-byte little-endian length followed by that many
//! bytes; the length `0xFFFF_FFFF` stands for an absent field (JS `undefined`/`null`, Rust
//! `None`) and is followed by nothing. A field is text (UTF-8) or bytes; which one is a matter of
//! the call, not of the frame. Nothing follows the last field. A frame's fields are read in
//! order; a reader that runs out, meets a length past the end, text that is not UTF-8, or bytes
//! left after the last field it expects refuses the whole frame ([`Malformed`]).

/// The length that marks an absent field.
pub const ABSENT: u32 = u32::MAX;

/// A frame that does not hold the fields its call expects (a bug on one side of the boundary:
/// the caller answers it as one, never guesses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// Reads a frame's fields in order.
#[derive(Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(frame: &'a [u8]) -> Self {
        Self { rest: frame }
    }

    /// The next field as bytes (`None`: absent).
    pub fn bytes(&mut self) -> Result<Option<&'a [u8]>, Malformed> {
        let (len, rest) = self.rest.split_first_chunk::<4>().ok_or(Malformed)?;
        let len = u32::from_le_bytes(*len);
        if len == ABSENT {
            self.rest = rest;
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| Malformed)?;
        if len > rest.len() {
            return Err(Malformed);
        }
        let (field, rest) = rest.split_at(len);
        self.rest = rest;
        Ok(Some(field))
    }

    /// The next field as text (`None`: absent).
    pub fn text(&mut self) -> Result<Option<&'a str>, Malformed> {
        match self.bytes()? {
            Some(b) => std::str::from_utf8(b).map(Some).map_err(|_| Malformed),
            None => Ok(None),
        }
    }

    /// The next field as text that must be present.
    pub fn required(&mut self) -> Result<&'a str, Malformed> {
        self.text()?.ok_or(Malformed)
    }

    /// Ends the reading: nothing may be left.
    pub fn end(self) -> Result<(), Malformed> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Malformed)
        }
    }
}

/// Writes a frame (what a call answers, when it is more than one string).
#[derive(Debug, Default)]
pub struct Writer(Vec<u8>);

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a field of bytes (`None`: absent).
    pub fn bytes(mut self, field: Option<&[u8]>) -> Self {
        match field {
            // A field is at most what wasm memory holds, far below `ABSENT`.
            Some(b) => {
                let len = u32::try_from(b.len()).unwrap_or(ABSENT - 1);
                self.0.extend_from_slice(&len.to_le_bytes());
                self.0.extend_from_slice(&b[..len as usize]);
            }
            None => self.0.extend_from_slice(&ABSENT.to_le_bytes()),
        }
        self
    }

    /// Appends a text field (`None`: absent).
    pub fn text(self, field: Option<&str>) -> Self {
        self.bytes(field.map(str::as_bytes))
    }

    /// Appends a text field that is present.
    pub fn str(self, field: &str) -> Self {
        self.bytes(Some(field.as_bytes()))
    }

    pub fn finish(self) -> Vec<u8> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_writes() {
        let f = Writer::new()
            .str("héllo")
            .text(None)
            .bytes(Some(&[0, 255, 10]))
            .str("")
            .finish();
        let mut r = Reader::new(&f);
        assert_eq!(r.required(), Ok("héllo"));
        assert_eq!(r.text(), Ok(None));
        assert_eq!(r.bytes(), Ok(Some(&[0u8, 255, 10][..])));
        assert_eq!(r.text(), Ok(Some("")));
        assert_eq!(r.end(), Ok(()));
    }

    #[test]
    fn refuses_what_does_not_hold_the_fields() {
        // Out of fields, a short length, a length past the end, not UTF-8, a required field
        // absent, bytes left over.
        assert_eq!(Reader::new(&[]).bytes(), Err(Malformed));
        assert_eq!(Reader::new(&[1, 0, 0]).bytes(), Err(Malformed));
        assert_eq!(
            Reader::new(&[3, 0, 0, 0, b'a', b'b']).bytes(),
            Err(Malformed)
        );
        assert_eq!(Reader::new(&[1, 0, 0, 0, 0xff]).text(), Err(Malformed));
        assert_eq!(
            Reader::new(&[255, 255, 255, 255]).required(),
            Err(Malformed)
        );
        let mut r = Reader::new(&[0, 0, 0, 0, 7]);
        assert_eq!(r.text(), Ok(Some("")));
        assert_eq!(r.end(), Err(Malformed));
        // A length of 0xFFFF_FFFE is a length, not an absent field.
        assert_eq!(Reader::new(&[254, 255, 255, 255]).bytes(), Err(Malformed));
    }
}

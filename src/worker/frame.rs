//! The call frame's buffers (the format: `crate::call_frame`; the JS side: `frame.mjs`). One
//! buffer per isolate takes every call's strings and bytes (JS writes into what
//! [`edge_frame`] reserves); one string holds what the last call answered until the next one.

use std::cell::RefCell;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

use crate::call_frame::{Malformed, Reader};

thread_local! {
    /// The frame JS writes: always initialised up to its length (grown with zeros).
    static INPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// What the last call answered.
    static OUTPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// wasm memory, for `frame.mjs`'s views (asked once per instance).
#[wasm_bindgen]
pub fn edge_memory() -> JsValue {
    wasm_bindgen::memory()
}

/// The address of a buffer of at least `room` bytes for the next call's frame.
#[wasm_bindgen]
pub fn edge_frame(room: u32) -> u32 {
    INPUT.with(|b| {
        let mut b = b.borrow_mut();
        let room = room as usize;
        if b.len() < room {
            b.resize(room, 0);
        }
        b.as_mut_ptr() as u32
    })
}

/// Reads the `len` bytes JS wrote with `read` (the frame is not borrowed while the call runs:
/// `read` copies out what it keeps).
pub(crate) fn input<T>(
    len: u32,
    read: impl FnOnce(&mut Reader<'_>) -> Result<T, Malformed>,
) -> Result<T, Malformed> {
    INPUT.with(|b| {
        let b = b.borrow();
        let frame = b.get(..len as usize).ok_or(Malformed)?;
        let mut r = Reader::new(frame);
        let out = read(&mut r)?;
        r.end()?;
        Ok(out)
    })
}

/// Keeps `answer` until the next call and returns where it lies: `ptr * 2^32 + len`, exact in a
/// double (both are below 2^32).
pub(crate) fn output(answer: impl Into<Vec<u8>>) -> f64 {
    OUTPUT.with(|o| {
        let mut o = o.borrow_mut();
        *o = answer.into();
        f64::from(o.as_ptr() as u32) * 4_294_967_296.0 + f64::from(o.len() as u32)
    })
}

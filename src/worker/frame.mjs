// The call frame, JS side (src/call_frame.rs has the spec and the Rust side; the golden encodings
// in tests/vectors/frame/ are checked by both). Every `edge_*` export takes and returns numbers:
// the strings and bytes of a call are written into one buffer in wasm memory (reserved by
// `edge_frame`), and what a call answers lies in wasm memory at the place and length its number
// says (`ptr * 2^32 + len`). That place is reused by the next call, so an answer is read at once,
// in the same turn as its call: never after an `await`.

const ABSENT = 0xffffffff;
const SPLIT = 4294967296;
const utf8 = new TextEncoder();
const decoder = new TextDecoder("utf-8", { ignoreBOM: true, fatal: true });

/** A frame that does not hold what its call answers: a build mismatch, never guessed around. */
export class FrameError extends Error {}

// One view of wasm memory, made again when memory grew (a grown memory has a new buffer).
let view = new Uint8Array(0);
function bytesOf(memory) {
  if (view.buffer !== memory.buffer) view = new Uint8Array(memory.buffer);
  return view;
}

/**
 * Writes `fields` (strings as UTF-8, Uint8Arrays as they are, `undefined`/`null` as absent) into
 * the buffer `reserve(room)` returns the address of, and returns the frame's length.
 */
export function writeFrame(memory, reserve, fields) {
  let room = 0;
  for (const f of fields) room += 4 + (f == null ? 0 : typeof f === "string" ? f.length * 3 : f.length);
  const start = reserve(room);
  const mem = bytesOf(memory); // after `reserve`: it may have grown memory
  let at = start;
  for (const f of fields) {
    let n = ABSENT;
    if (typeof f === "string") {
      n = utf8.encodeInto(f, mem.subarray(at + 4, at + 4 + f.length * 3)).written;
    } else if (f != null) {
      mem.set(f, at + 4);
      n = f.length;
    }
    mem[at] = n;
    mem[at + 1] = n >>> 8;
    mem[at + 2] = n >>> 16;
    mem[at + 3] = n >>> 24;
    at += n === ABSENT ? 4 : 4 + n;
  }
  return at - start;
}

/** The text a call answered (`ptr * 2^32 + len`). */
export function readText(memory, answer) {
  const len = answer % SPLIT;
  const ptr = (answer - len) / SPLIT;
  return decoder.decode(bytesOf(memory).subarray(ptr, ptr + len));
}

/** The text fields of a frame a call answered (absent ones as `undefined`): `count` of them, or any number. */
export function readFrame(memory, answer, count) {
  const len = answer % SPLIT;
  let at = (answer - len) / SPLIT;
  const end = at + len;
  const mem = bytesOf(memory);
  const fields = [];
  while (at < end) {
    if (end - at < 4) throw new FrameError("a field's length is cut short");
    const n = (mem[at] | (mem[at + 1] << 8) | (mem[at + 2] << 16) | (mem[at + 3] << 24)) >>> 0;
    at += 4;
    if (n === ABSENT) {
      fields.push(undefined);
      continue;
    }
    if (n > end - at) throw new FrameError("a field runs past the frame");
    try {
      fields.push(decoder.decode(mem.subarray(at, at + n)));
    } catch {
      throw new FrameError("a field is not UTF-8");
    }
    at += n;
  }
  if (count !== undefined && fields.length !== count) {
    throw new FrameError(`expected ${count} fields, found ${fields.length}`);
  }
  return fields;
}

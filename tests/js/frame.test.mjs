// The call frame's golden encodings (tests/vectors/frame/frames.json, written from the spec by
// tests/gen/frame/generate.py) against the JS side the Worker runs (src/worker/frame.mjs).
// `cargo test` checks the same file against src/call_frame.rs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { FrameError, readFrame, readText, writeFrame } from "../../src/worker/frame.mjs";

const v = JSON.parse(readFileSync(new URL("../vectors/frame/frames.json", import.meta.url), "utf8"));
const hex = (s) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
const toHex = (b) => Buffer.from(b).toString("hex");
const SPLIT = 4294967296;

// A stand-in for wasm memory and `edge_frame`: the frame goes at `at`, and memory grows on the
// first reservation (as wasm's may), so a view taken before it would be stale.
function memory(at = 24) {
  const m = new WebAssembly.Memory({ initial: 1, maximum: 4 });
  let grown = false;
  const reserve = (room) => {
    if (!grown) {
      m.grow(1);
      grown = true;
    }
    assert.ok(at + room <= m.buffer.byteLength);
    return at;
  };
  return { m, reserve, at };
}

const jsField = (f) => (f === null ? undefined : "text" in f ? f.text : hex(f.hex));

test("the vectors name their source and have cases", () => {
  assert.ok(v.source.includes("src/call_frame.rs"));
  assert.ok(v.cases.length >= 8 && v.malformed.length >= 7);
});

for (const c of v.cases) {
  test(`writes: ${c.name}`, () => {
    const { m, reserve, at } = memory();
    const len = writeFrame(m, reserve, c.fields.map(jsField));
    assert.equal(toHex(new Uint8Array(m.buffer, at, len)), c.encoded);
  });
}

for (const c of v.cases.filter((c) => c.fields.every((f) => f === null || "text" in f))) {
  test(`reads: ${c.name}`, () => {
    const { m, at } = memory();
    new Uint8Array(m.buffer).set(hex(c.encoded), at);
    const fields = readFrame(m, at * SPLIT + c.encoded.length / 2, c.fields.length);
    assert.deepEqual(fields, c.fields.map(jsField));
  });
}

for (const c of v.malformed) {
  test(`refuses: ${c.name}`, () => {
    const { m, at } = memory();
    new Uint8Array(m.buffer).set(hex(c.encoded), at);
    const answer = at * SPLIT + c.encoded.length / 2;
    if (c.reads.length === 1 && c.reads[0] === "required") {
      // The frame is well formed; the call that needs the field refuses its absence.
      assert.deepEqual(readFrame(m, answer, 1), [undefined]);
    } else {
      assert.throws(() => readFrame(m, answer, c.reads.length), FrameError);
    }
  });
}

test("a call's answer text is read where its number says", () => {
  const { m, at } = memory();
  const bytes = new TextEncoder().encode("1\0respond\0é");
  new Uint8Array(m.buffer).set(bytes, at + 5);
  assert.equal(readText(m, (at + 5) * SPLIT + bytes.length), "1\0respond\0é");
});

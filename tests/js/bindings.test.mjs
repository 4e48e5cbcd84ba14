// Names the Worker's JS and the Rust core must agree on, read from both sources (entry.js cannot
// be imported under node: it imports the wasm build).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

const read = (p) => readFileSync(new URL(`../../${p}`, import.meta.url), "utf8");

test("entry.js asks the Durable Object namespace the core names (ratelimit::durable::BINDING)", () => {
  const rust = read("src/ratelimit/durable.rs").match(/pub const BINDING: &str = "([A-Z_]+)";/);
  const js = read("src/worker/glue.js").match(/export const DO_NAMESPACE = "([A-Z_]+)";/);
  assert.ok(rust && js, "both constants are where this test looks");
  assert.equal(js[1], rust[1]);
  // and wrangler.toml binds that name
  assert.match(read("wrangler.toml"), new RegExp(`name = "${rust[1]}", class_name = "RateLimiter"`));
});

test("wasm's abort handler calls the hook entry.js installs", () => {
  const rust = read("src/worker/mod.rs").match(/js_namespace = globalThis, js_name = (\w+)\)/);
  assert.ok(rust, "the import is where this test looks");
  assert.match(read("src/worker/entry.js"), new RegExp(`globalThis\\.${rust[1]} = `));
});

test("every wasm export entry.js calls is one the Rust driver exports", () => {
  const js = read("src/worker/entry.js");
  const rust = read("src/worker/fast.rs") + read("src/worker/rate_limiter.rs") + read("src/worker/frame.rs");
  const called = new Set([...js.matchAll(/wasm\.(edge_\w+)\b/g)].map((m) => m[1]));
  assert.ok(called.has("edge_plan") && called.has("edge_sync_joined"), "the calls are where this test looks");
  for (const name of called) {
    assert.match(rust, new RegExp(`#\\[wasm_bindgen\\]\\s*pub fn ${name}\\(`), `${name} is not exported by src/worker/`);
  }
});

// An answer lies where the call frame's output buffer is until the next call into wasm: entry.js
// must read it in the same expression, never after an await (another request's call could come
// first). Every export answering a place (`-> f64`) is read by `plan(`, `this.decision(` or
// `this.step(` around the call, or passed as `report`/`joined` to get()/jwks(), which do the same.
test("every answer of the call frame is read where its call is made", () => {
  const rust = read("src/worker/fast.rs") + read("src/worker/rate_limiter.rs");
  const answering = [...rust.matchAll(/#\[wasm_bindgen\]\s*pub fn (edge_\w+)\([^)]*\) -> f64/g)].map((m) => m[1]);
  assert.ok(answering.includes("edge_plan") && answering.includes("edge_rl_check"), "the exports are where this looks");
  const js = read("src/worker/entry.js");
  for (const name of answering) {
    for (const m of js.matchAll(new RegExp(`(.{0,16})wasm\\.${name}\\b(\\(?)`, "g"))) {
      const [, before, call] = m;
      if (call) {
        assert.match(before, /(plan|this\.decision|this\.step)\($/, `${name}'s answer is not read at once`);
      } else {
        assert.match(before, /(get|jwks)\(p, $/, `${name} is passed where its answer is not read at once`);
      }
    }
  }
  assert.match(js, /return plan\(report\(p\.ticket/);
  assert.match(js, /return plan\(joined\(p\.ticket/);
});

test("entry.js's request loop has a case for every wait the core plans", () => {
  const plan = read("src/plan.rs");
  const needKinds = [...plan.slice(plan.indexOf("pub fn need(")).split("/// No background work left")[0]
    .matchAll(/Writer::new\("(\w+)"/g)].map((m) => m[1]);
  assert.ok(needKinds.includes("sync_wait") && needKinds.includes("fetch"), "the encoder is where this test looks");
  const handle = read("src/worker/entry.js").split("async function handle(")[1].split("\nexport default")[0];
  for (const kind of needKinds) assert.match(handle, new RegExp(`case "${kind}":`), `no case "${kind}" in handle()`);
});

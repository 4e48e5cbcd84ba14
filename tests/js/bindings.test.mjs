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
  const rust = read("src/worker/fast.rs") + read("src/worker/rate_limiter.rs");
  const called = new Set([...js.matchAll(/wasm\.(edge_\w+)\(/g)].map((m) => m[1]));
  assert.ok(called.has("edge_plan") && called.has("edge_sync_joined"), "the calls are where this test looks");
  for (const name of called) {
    assert.match(rust, new RegExp(`#\\[wasm_bindgen\\]\\s*pub fn ${name}\\(`), `${name} is not exported by src/worker/`);
  }
});

test("entry.js's request loop has a case for every wait the core plans", () => {
  const plan = read("src/plan.rs");
  const needKinds = [...plan.slice(plan.indexOf("pub fn need(")).split("/// No background work left")[0]
    .matchAll(/Writer::new\("(\w+)"/g)].map((m) => m[1]);
  assert.ok(needKinds.includes("sync_wait") && needKinds.includes("fetch"), "the encoder is where this test looks");
  const handle = read("src/worker/entry.js").split("async function handle(")[1].split("\nexport default")[0];
  for (const kind of needKinds) assert.match(handle, new RegExp(`case "${kind}":`), `no case "${kind}" in handle()`);
});

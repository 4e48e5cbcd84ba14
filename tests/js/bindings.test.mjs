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

// The plan protocol's golden encodings (tests/vectors/plan/) against the JS decoder the Worker
// runs (src/worker/plan.mjs). `cargo test` checks the same files against the Rust encoder.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { decodePlan, PlanError, PLAN_VERSION } from "../../src/worker/plan.mjs";

const vectors = (name) => JSON.parse(readFileSync(new URL(`../vectors/plan/${name}`, import.meta.url), "utf8"));

test("the vectors name their source", () => {
  for (const file of ["steps.json", "invalid.json"]) {
    const v = vectors(file);
    assert.ok(v.source && v.source.includes("version 1"), file);
    assert.ok(v.cases.length > 0, file);
  }
  assert.equal(PLAN_VERSION, "1");
});

// A decoded plan carries every kind's fields (one shape for V8); the golden `decoded` lists the
// ones its kind sets (the others are null).
const defined = (p) => Object.fromEntries(Object.entries(p).filter(([, v]) => v !== null));

for (const c of vectors("steps.json").cases) {
  test(`decodes: ${c.name}`, () => {
    assert.deepEqual(defined(decodePlan(c.encoded)), c.decoded);
  });
}

test("every decoded plan has one shape: the same own keys in the same order, whatever its kind", () => {
  const shapes = new Set(vectors("steps.json").cases.map((c) => Object.keys(decodePlan(c.encoded)).join(",")));
  assert.equal(shapes.size, 1, [...shapes].join("\n"));
  const kinds = new Set(vectors("steps.json").cases.map((c) => decodePlan(c.encoded).kind));
  assert.ok(kinds.size >= 6, `the golden cases cover ${kinds.size} kinds`);
});

for (const c of vectors("invalid.json").cases) {
  test(`refuses: ${c.name}`, () => {
    assert.throws(() => decodePlan(c.encoded), (e) => e instanceof PlanError && e.message === c.error);
  });
}

test("every kind in the Rust encoder's table has a golden case", () => {
  const src = readFileSync(new URL("../../src/plan.rs", import.meta.url), "utf8");
  const table = src.slice(src.indexOf("pub const KINDS"), src.indexOf("];", src.indexOf("pub const KINDS")));
  const kinds = [...table.matchAll(/\("([a-z_]+)", \d+\)/g)].map((m) => m[1]);
  assert.ok(kinds.length >= 8, kinds.join());
  const covered = new Set(vectors("steps.json").cases.map((c) => c.decoded.kind));
  for (const k of kinds) assert.ok(covered.has(k), `no golden case for kind ${k}`);
});

// The request-fields wire format (what `planFields` in glue.js hands `edge_plan`): the golden
// encodings in tests/vectors/plan/request_fields.json against the JS encoder the Worker runs.
// src/request_fields.rs checks the same file against its decoder and its PLAN_HEADERS.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { planFields, PLAN_HEADERS } from "../../src/worker/glue.js";

const v = JSON.parse(readFileSync(new URL("../vectors/plan/request_fields.json", import.meta.url), "utf8"));

test("glue.js sends the headers the vectors (and src/request_fields.rs) name, in order", () => {
  assert.deepEqual(PLAN_HEADERS, v.headers);
});

for (const c of v.cases) {
  test(`encodes: ${c.name}`, () => {
    const [encoded, absent] = planFields(new Request(c.url, { method: c.method, headers: c.headers }));
    assert.equal(encoded, c.encoded);
    assert.equal(absent, c.absent);
  });
}

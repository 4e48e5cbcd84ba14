// What the Worker's JS hands wasm for a `limits` plan (glue.js `askLimits`), with stand-in
// backends shaped like the runtime's: a Durable Object namespace (idFromName → get → fetch) and
// rate-limiting bindings (limit({ key }) → { success }). The lines are read by the core
// (`RemoteOutcome::read`, src/pipeline/limits.rs; its tests read the same shapes).
import { test } from "node:test";
import assert from "node:assert/strict";
import { askLimits, DO_NAMESPACE } from "../../src/worker/glue.js";

function namespace(answer) {
  const seen = [];
  return {
    seen,
    idFromName: (name) => ({ name }),
    get: (id) => ({
      fetch: async (url, init) => {
        seen.push([id.name, url, init.method]);
        return answer(url);
      },
    }),
  };
}

test("a Durable Object's status and body, and a binding's success, one line per check in order", async () => {
  const ns = namespace(() => new Response("a 1800000000000000000 9 6000", { status: 200 }));
  const keys = [];
  const env = {
    [DO_NAMESPACE]: ns,
    RL_API: { limit: async ({ key }) => (keys.push(key), { success: false }) },
  };
  const lines = await askLimits(["durable", "binding"], ["rl1-42", "RL_API"],
    ["https://rate-limiter/check/ab/100/60000/1", "abcd"], env);
  assert.deepEqual(lines, ["200 a 1800000000000000000 9 6000", "200 false"]);
  assert.deepEqual(ns.seen, [["rl1-42", "https://rate-limiter/check/ab/100/60000/1", "POST"]]);
  assert.deepEqual(keys, ["abcd"]);
});

test("what could not answer says why, on one line, with status 0 (or the object's own status)", async () => {
  const env = {
    [DO_NAMESPACE]: namespace(() => new Response("bad rate-limit\ncheck", { status: 400 })),
    THROWS: { limit: async () => { throw new TypeError("limit() failed\nbadly"); } },
    ODD: { limit: async () => ({}) },
  };
  const lines = await askLimits(["durable", "binding", "binding", "binding"], ["rl1-00", "MISSING", "THROWS", "ODD"],
    ["https://rate-limiter/check/00/1/1000/1", "k", "k", "k"], env);
  assert.deepEqual(lines, [
    "400 bad rate-limit check",
    "0 no rate-limiting binding named MISSING in this Worker",
    "0 TypeError: limit() failed badly",
    "200 undefined", // not an answer: the core reads it as unavailable
  ]);
  for (const l of lines) assert.ok(!l.includes("\n"));
});

test("no Durable Object namespace bound", async () => {
  assert.deepEqual(await askLimits(["durable"], ["rl1-00"], ["u"], {}),
    [`0 no Durable Object namespace bound as ${DO_NAMESPACE}`]);
});

// A Worker that calls our wasm's plan step N times in one request (the cached path of
// bench/run.sh's `edge` config; GET /?n=N with the scenario's Authorization header): each call is
// what entry.js does for one request before and after the forward — the request fields into
// wasm (`edge_plan`), the plan decoded, and for a forward plan `edge_forwarded` and its plan.
// workerd's clocks stand still inside a request, so ab.sh times requests from outside:
// (time of n=N − time of n=0) / N. The first request drives the fresh isolate's revocation sync
// (`fetch` plans) to its end first, so the calls timed are the steady state's.
import * as wasm from "./pkg/index.js";
import { headersOf, planFields } from "./pkg/glue.js";
import { decodePlan } from "./pkg/plan.mjs";
import { readText, writeFrame } from "./pkg/frame.mjs";

// The call frame, as entry.js uses it (builds from 1c7b447 on).
let memory = null;
const mem = () => (memory ??= wasm.edge_memory());
const frame = (...fields) => writeFrame(mem(), wasm.edge_frame, fields);
const answer = (r) => decodePlan(readText(mem(), r));

// One request's plan step; `fetch` plans (the first revocation sync) are performed.
async function plan(request, now) {
  const [fields, absent] = planFields(request);
  let p = answer(wasm.edge_plan(absent, now, frame(fields)));
  while (p.kind === "fetch") {
    const r = await fetch(p.url, { headers: headersOf(p.headerNames, p.headerValues) });
    const body = new Uint8Array(await r.arrayBuffer());
    const cc = r.headers.get("cache-control") ?? undefined;
    p = answer(wasm.edge_fetched(p.ticket, r.status, now, frame(body, "", cc)));
  }
  if (p.kind === "forward") answer(wasm.edge_forwarded(200, 1, now, frame(p.after)));
  return p;
}

let configured = false;
export default {
  async fetch(request, env) {
    if (!configured) {
      wasm.edge_configure(env);
      configured = true;
    }
    const n = +(new URL(request.url).searchParams.get("n") || 0);
    const now = Date.now();
    let kinds = "";
    if (n > 0) kinds = (await plan(request, now)).kind; // the first call may sync; not in a loop
    for (let i = 1; i < n; i++) kinds = (await plan(request, now)).kind;
    return new Response(kinds);
  },
};

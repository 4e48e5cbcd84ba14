// A Worker that calls our wasm's plan step N times in one request (the cached path of
// bench/run.sh's `edge` config; GET /?n=N&what=plan with the scenario's Authorization header).
// workerd's clocks stand still inside a request, so ab.sh times requests from outside:
// (time of n=N − time of n=0) / N.
import * as wasm from "./pkg/index.js";
import { planFields } from "./pkg/glue.js";

let configured = false;
export default {
  async fetch(request, env) {
    if (!configured) {
      wasm.edge_configure(env);
      configured = true;
      await wasm.edge_background(); // the first revocation sync, so plans are forward plans
    }
    const n = +(new URL(request.url).searchParams.get("n") || 0);
    const now = Date.now();
    let last = "";
    for (let i = 0; i < n; i++) {
      const [fields, absent] = planFields(request);
      last = wasm.edge_plan(fields, absent, now, false);
    }
    return new Response(last.slice(0, 40).replace(/\0/g, "|"));
  },
};

// cycle.js for builds before the plan protocol had a version (7c5ac22 and earlier: one-letter kinds).
import * as wasm from "./pkg/index.js";
import { planFields } from "./pkg/glue.js";

let configured = false;
export default {
  async fetch(request, env) {
    if (!configured) {
      wasm.edge_configure(env);
      configured = true;
      await wasm.edge_background();
    }
    const n = +(new URL(request.url).searchParams.get("n") || 0);
    const now = Date.now();
    let kinds = "";
    for (let i = 0; i < n; i++) {
      const [fields, absent] = planFields(request);
      let f = wasm.edge_plan(fields, absent, now, false).split("\0");
      kinds = f[0];
      if (f[0][0] === "V") {
        f = wasm.edge_verified(Number(f[1]), true, now).split("\0");
        kinds += "," + f[0];
      }
      if (f[0][0] === "F") wasm.edge_forwarded(f[3], 200, 1, now);
    }
    return new Response(kinds);
  },
};

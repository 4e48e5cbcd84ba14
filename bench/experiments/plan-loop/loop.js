// A Worker that calls our wasm's plan step N times in one request (the cached path of
// bench/run.sh's `edge` config; GET /?n=N&what=plan with the scenario's Authorization header).
// workerd's clocks stand still inside a request, so ab.sh times requests from outside:
// (time of n=N − time of n=0) / N.
import * as wasm from "./pkg/index.js";
import { headerNames } from "./pkg/glue.js";

let configured = false;
export default {
  async fetch(request, env) {
    if (!configured) {
      wasm.edge_configure(env);
      configured = true;
      await wasm.edge_background(); // the first revocation sync, so plans are forward plans
    }
    const n = +(new URL(request.url).searchParams.get("n") || 0);
    const h = request.headers;
    const now = Date.now();
    let last = "";
    for (let i = 0; i < n; i++) {
      last = wasm.edge_plan(request.method, request.url, headerNames(h), h.get("authorization"), h.get("cookie"),
        h.get("cf-connecting-ip"), h.get("x-request-id"), h.get("accept"), now, false);
    }
    return new Response(last.slice(0, 40).replace(/\0/g, "|"));
  },
};

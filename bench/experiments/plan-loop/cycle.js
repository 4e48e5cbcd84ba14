// For builds before 1c7b447 (strings and bytes through wasm-bindgen; loop.js speaks the call frame).
// Like loop.js, but one call is a request's whole wasm side on the verify path: the plan, the
// signature's answer (WebCrypto itself is not run: `true`), and the forward's outcome. The
// plan protocol of src/plan.rs (version 1). GET /?n=N with the scenario's Authorization header.
import * as wasm from "./pkg/index.js";
import { planFields } from "./pkg/glue.js";

const utf8 = new TextEncoder();
let configured = false;
export default {
  async fetch(request, env) {
    if (!configured) {
      wasm.edge_configure(env);
      configured = true;
      await wasm.edge_background(); // the first revocation sync
    }
    const n = +(new URL(request.url).searchParams.get("n") || 0);
    const now = Date.now();
    let kinds = "";
    for (let i = 0; i < n; i++) {
      const [fields, absent] = planFields(request);
      let f = wasm.edge_plan(utf8.encode(fields), absent, now).split("\0");
      kinds = f[1];
      if (f[1] === "verify") {
        f = wasm.edge_verified(Number(f[3]), true, now).split("\0");
        kinds += "," + f[1];
      }
      if (f[1] === "forward") wasm.edge_forwarded(f[6], 200, 1, now);
    }
    return new Response(kinds);
  },
};

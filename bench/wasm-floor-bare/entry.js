// The bare wasm floor's entry module (bundled by scripts/build-worker.sh with
// PACKAGE=edge-auth-wasm-floor-bare): the shape of edge-auth's src/worker/entry.js reduced to the
// least — configure once from `env`, one synchronous wasm call per request, JS does the forward.
import * as wasm from "./index.js";

let configured = false;

export default {
  fetch(request, env) {
    if (!configured) {
      if (!wasm.floor_configure(env.HS256_KEY ?? "")) return new Response("HS256_KEY is not base64url\n", { status: 500 });
      configured = true;
    }
    if (!wasm.floor_hs256_ok(request.headers.get("authorization") ?? "")) {
      return new Response("bad signature\n", { status: 401 });
    }
    const url = new URL(request.url);
    return fetch(env.ORIGIN_URL + url.pathname + url.search, request);
  },
};

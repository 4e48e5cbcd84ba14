// The wasm floor's entry module (bundled by scripts/build-worker.sh with PACKAGE=edge-auth-wasm-floor,
// see bench/run.sh): what worker-build's shim does for worker 0.8.7 and nothing more. wasm-bindgen's
// module glue instantiates the wasm and runs the crate's start function (the panic hook) on import;
// `fetch` is the export `#[event(fetch)]` generates. After a wasm trap (a panic aborts) the hook
// flags the instance and it is reset before the next request, as the shim does.
import * as wasm from "./index.js";

const init = wasm.__worker_init_state();
addEventListener("error", (e) => {
  if (e.error instanceof WebAssembly.RuntimeError) init.criticalError = true;
});

export default {
  fetch(req, env, ctx) {
    if (init.criticalError) {
      wasm.__wbg_reset_state();
      init.criticalError = false;
    }
    return wasm.fetch(req, env, ctx);
  },
};

// The Worker's entry module (bundled by scripts/build-worker.sh with the wasm-bindgen output).
//
// Every request first asks wasm for a plan (`edge_plan`, one synchronous call with the few
// request fields that matter; src/worker/fast.rs). The plan says: answer with this response,
// forward with these headers, verify this signature with WebCrypto and ask again, read the
// body of a webhook delivery and ask again, sync the revocation list first (a fresh isolate) and
// ask again, or hand the request to the full async path (`fetch`, src/worker/mod.rs) — bodies
// counted by account, durable limits, JWKS fetches, Ed25519 webhooks, pages.
// JS decides nothing; it performs the I/O.
//
// It also keeps what worker-build's shim gave us: after a wasm trap (a panic aborts) the
// instance is reset before the next request, and Durable Objects made from a reset instance
// are rebuilt.
import * as wasm from "./index.js";
import { cachedKey, decorate, forward, importKey, planFields, readCapped, verifySignature } from "./snippets/glue.js";

const init = wasm.__worker_init_state();
// Whether this instance has read `env` yet (`edge_configure`; reset with the instance).
let configured = false;

function resetIfCrashed() {
  if (init.criticalError) {
    console.log("Reinitializing Wasm application");
    wasm.__wbg_reset_state();
    init.criticalError = false;
    init.instanceId++;
    configured = false;
  }
}

function noteCrash(e) {
  if (e instanceof WebAssembly.RuntimeError) {
    console.error("Critical", e);
    init.criticalError = true;
  }
}

addEventListener("error", (e) => noteCrash(e.error));

const SEP = "\0";

function respond(f, at) {
  const names = f[at + 1] ? f[at + 1].split("\n") : [];
  const values = f[at + 2].split("\n");
  const headers = new Headers();
  for (let i = 0; i < names.length; i++) headers.append(names[i], values[i]);
  const status = Number(f[at]);
  const body = status === 204 || status === 304 || f[at + 3] === "" ? null : f[at + 3];
  return new Response(body, { status, headers });
}

const utf8 = new TextEncoder();

function b64urlBytes(s) {
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// Checks the `V` plan's signature with WebCrypto (glue.js: the parameters and the key cache
// both paths share), then lets wasm finish the decision.
async function verify(f) {
  const ticket = Number(f[1]);
  const [keyId, alg, input, sig] = [f[2], f[3], f[4], f[5]];
  let ok = false;
  try {
    let key = cachedKey(keyId);
    if (!key) {
      const spec = wasm.edge_key(ticket, Date.now()).split(SEP);
      if (spec.length === 3) {
        const data = spec[0] === "raw" ? b64urlBytes(spec[2]) : JSON.parse(spec[2]);
        key = await importKey(alg, spec[0], data, keyId);
      }
    }
    if (key) ok = await verifySignature(alg, key, b64urlBytes(sig), utf8.encode(input));
  } catch {
    ok = false; // an unusable key or a malformed signature: a failed verification
  }
  return wasm.edge_verified(ticket, ok, Date.now());
}

async function handle(request, env, ctx) {
  if (!configured) {
    wasm.edge_configure(env);
    configured = true;
  }
  const h = request.headers;
  const [fields, absent] = planFields(request);
  const plan = (mayPrepare) => wasm.edge_plan(fields, absent, Date.now(), mayPrepare).split(SEP);
  let f = plan(true);
  if (f[0][0] === "P") {
    // A fresh isolate's first revocation sync: run it now, then decide (once).
    await wasm.edge_background();
    f = plan(false);
  }
  if (f[0][1] === "1") ctx.waitUntil(wasm.edge_background());
  if (f[0][0] === "V") {
    f = (await verify(f)).split(SEP);
    if (f[0][1] === "1") ctx.waitUntil(wasm.edge_background());
  }
  let body; // a webhook's, read here and forwarded as these exact bytes
  if (f[0][0] === "B") {
    const present = f[3] ? f[3].split("\n").filter((n) => h.has(n)) : [];
    const length = h.get("content-length");
    body = await readCapped(request, Number(f[2]), length);
    f = wasm.edge_body(Number(f[1]), present.join("\n"), present.map((n) => h.get(n)).join("\n"), length,
      body ?? undefined, Date.now()).split(SEP);
    if (f[0][1] === "1") ctx.waitUntil(wasm.edge_background());
  }
  switch (f[0][0]) {
    case "R":
      return respond(f, 1);
    case "F": {
      const [url, timeout, trace, drop, setNames, setValues, respNames, respValues] = f.slice(1);
      const start = Date.now();
      let resp = null;
      try {
        resp = await forward(request, url, drop, setNames, setValues, body ?? undefined, Number(timeout));
      } catch (e) {
        console.error(JSON.stringify({ event: "origin_error", trace, detail: String(e) }));
      }
      const after = wasm.edge_forwarded(trace, resp ? resp.status : 0, Date.now() - start, Date.now()).split(SEP);
      if (after[0][0] !== "D") return respond(after, 1);
      if (!after[1]) return decorate(resp, respNames, respValues); // as fetched if both are empty
      const names = respNames ? respNames + "\nserver-timing" : "server-timing";
      const values = respNames ? respValues + "\n" + after[1] : after[1];
      return decorate(resp, names, values);
    }
    default:
      return wasm.fetch(request, env, ctx);
  }
}

export default {
  async fetch(request, env, ctx) {
    resetIfCrashed();
    try {
      return await handle(request, env, ctx);
    } catch (e) {
      noteCrash(e);
      throw e;
    }
  },
};

// The per-key rate limiter (src/worker/rate_limiter.rs), rebuilt if the instance was reset.
export class RateLimiter {
  constructor(state, env) {
    this.state = state;
    this.env = env;
    this.build();
  }
  build() {
    this.inner = new wasm.RateLimiter(this.state, this.env);
    this.instanceId = init.instanceId;
  }
  current() {
    resetIfCrashed();
    if (this.instanceId !== init.instanceId) this.build();
    return this.inner;
  }
  async fetch(request) {
    try {
      return await this.current().fetch(request);
    } catch (e) {
      noteCrash(e);
      throw e;
    }
  }
  async alarm() {
    try {
      return await this.current().alarm();
    } catch (e) {
      noteCrash(e);
      throw e;
    }
  }
}

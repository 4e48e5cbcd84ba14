// The Worker's entry module (bundled by scripts/build-worker.sh with the wasm-bindgen output).
//
// Every request starts with one synchronous call into wasm (`edge_plan`, src/worker/fast.rs),
// which runs the core's request pipeline (src/pipeline/) and answers with a plan (the protocol
// is src/plan.rs; plan.mjs decodes it): answer with this response, forward with these headers,
// verify this signature with WebCrypto (`verify`, `ed25519`), read the body capped (`read_body`),
// GET this URL (`fetch`, `jwks`), wait for the revocation sync under way (`sync_wait`), ask
// these rate-limit backends (`limits`) — and call back with what happened, for the next plan.
// Background work (revocation polls, JWKS refreshes) runs the same way in `waitUntil`. Every
// call into wasm is synchronous and JS decides nothing: it performs the I/O. A plan it cannot
// read is an error (500, logged), never a guess.
//
// It also keeps what worker-build's shim gave us: after a wasm trap (a panic aborts) the
// instance is reset before the next request, and Durable Objects made from a reset instance
// are rebuilt.
import * as wasm from "./index.js";
import { askLimits, cachedKey, decorate, forward, headersOf, importKey, planFields, readCapped, verifySignature } from "./glue.js";
import { decodePlan, PlanError } from "./plan.mjs";
import { FrameError, readFrame, readText, writeFrame } from "./frame.mjs";

// Whether the instance trapped (reset before the next call) and how many instances there were.
const init = { criticalError: false, instanceId: 0 };
// Called by wasm's abort handler (src/worker/mod.rs) on any trap or exception out of an export,
// whatever a caller's `catch` then does: the next request resets the instance.
globalThis.__edgeAuthCrashed = () => {
  init.criticalError = true;
};
// Whether this instance has read `env` yet (`edge_configure`; reset with the instance).
let configured = false;
// This instance's memory (asked once; reset with the instance).
let memory = null;

// The call frame (frame.mjs, src/call_frame.rs): every export takes numbers; a call's strings and
// bytes are written into wasm's frame buffer first, and what it answers is read at once — the
// next call reuses the place, so an answer is never read after an `await`.
const mem = () => (memory ??= wasm.edge_memory());
const frame = (...fields) => writeFrame(mem(), wasm.edge_frame, fields);
const plan = (answer) => decodePlan(readText(mem(), answer));

function resetIfCrashed() {
  if (init.criticalError) {
    console.log("Reinitializing Wasm application");
    wasm.__wbg_reset_state();
    init.criticalError = false;
    init.instanceId++;
    configured = false;
    memory = null;
  }
}

function noteCrash(e) {
  if (e instanceof WebAssembly.RuntimeError) {
    console.error("Critical", e);
    init.criticalError = true;
  }
}

addEventListener("error", (e) => noteCrash(e.error));

function respond(p) {
  const headers = headersOf(p.headerNames, p.headerValues);
  const body = p.status === 204 || p.status === 304 || p.body === "" ? null : p.body;
  return new Response(body, { status: p.status, headers });
}

const utf8 = new TextEncoder();

function b64urlBytes(s) {
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// A `verify` plan: checks the signature with WebCrypto (glue.js: the parameters and the key
// cache), then lets wasm finish the decision.
async function verify(p) {
  let key = cachedKey(p.keyId);
  if (!key) {
    const k = plan(wasm.edge_key(p.ticket, Date.now()));
    if (k.kind === "key") {
      try {
        key = await importKey(k.alg, k.format, k.format === "raw" ? b64urlBytes(k.data) : JSON.parse(k.data), p.keyId);
      } catch {
        key = undefined; // an unusable key: a failed verification
      }
    }
  }
  let ok = false;
  if (key) {
    try {
      ok = await verifySignature(p.alg, key, b64urlBytes(p.signature), utf8.encode(p.signingInput));
    } catch {
      ok = false; // a malformed signature: a failed verification
    }
  }
  return plan(wasm.edge_verified(p.ticket, ok, Date.now()));
}

// One GET: the status (0: no response, `error` says what was thrown), the body and its
// Cache-Control. Redirects are not followed (a 3xx is the answer: wasm counts it as a failure —
// the feed's request is signed, and a key set is trusted for its configured URL only).
async function httpGet(url, headers, timeoutMs) {
  try {
    const resp = await fetch(url, { headers, redirect: "manual", signal: AbortSignal.timeout(timeoutMs) });
    const body = new Uint8Array(await resp.arrayBuffer());
    return { status: resp.status, body, error: "", cacheControl: resp.headers.get("cache-control") ?? undefined };
  } catch (e) {
    return { status: 0, body: undefined, error: errorText(e), cacheControl: undefined };
  }
}

function errorText(e) {
  return (e instanceof Error ? `${e.name}: ${e.message}` : String(e)).replace(/\n/g, " ");
}

// A `fetch` plan: one GET with the plan's headers and timeout (a page of the revocation feed).
// wasm hears what came back and decides (a page or a failed poll, another page or not); then
// every request waiting for the sync under way (`sync_wait`) wakes to ask wasm again.
async function get(p, report) {
  const r = await httpGet(p.url, headersOf(p.headerNames, p.headerValues), p.timeoutMs);
  try {
    return plan(report(p.ticket, r.status, Date.now(), frame(r.body, r.error, r.cacheControl)));
  } finally {
    feedReported();
  }
}

// A `sync_wait` plan: a fresh isolate's revocation sync is under way (another request's, or a
// background poll), and this request needs it. It waits until a page of the feed has been
// reported (or the plan's timeout), then wasm decides: wait again, sync itself, or go on.
const feedWaiters = new Set();
function feedReported() {
  for (const wake of feedWaiters) wake();
}
async function syncWait(p) {
  await new Promise((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      feedWaiters.delete(wake);
      resolve();
    };
    const timer = setTimeout(wake, p.timeoutMs);
    feedWaiters.add(wake);
  });
  return plan(wasm.edge_sync_joined(p.ticket, Date.now()));
}

// A `jwks` plan: GET the issuer's key set and report it (`edge_jwks`), once per issuer at a time
// (single flight): a request or refresh that finds a GET for the issuer running waits for it.
// Every waiter, the one that made the GET included, then resumes with `joined`.
const jwksInFlight = new Map();
async function jwks(p, joined) {
  let running = jwksInFlight.get(p.issuer);
  if (!running) {
    running = httpGet(p.url, undefined, p.timeoutMs)
      .then((r) => wasm.edge_jwks(r.status, Date.now(), frame(p.issuer, p.url, r.body, r.error, r.cacheControl)))
      .finally(() => jwksInFlight.delete(p.issuer));
    jwksInFlight.set(p.issuer, running);
  }
  await running;
  return plan(joined(p.ticket, Date.now()));
}

// A `limits` plan: glue.js's `askLimits` asks each backend and says what each answered; wasm
// judges the answers.
async function limits(p, env) {
  const answers = await askLimits(p.backends, p.names, p.args, env);
  return plan(wasm.edge_limited(p.ticket, Date.now(), frame(answers.join("\n"))));
}

// An `ed25519` plan: the first (key, signature) candidate that verifies the message, or -1.
async function ed25519(p) {
  const message = b64urlBytes(p.message);
  let hit = -1;
  for (let i = 0; i < p.keys.length && hit < 0; i++) {
    try {
      const key = await importKey("EdDSA", "raw", b64urlBytes(p.keys[i]));
      if (await verifySignature("EdDSA", key, b64urlBytes(p.signatures[i]), message)) hit = i;
    } catch {
      // an unusable key or signature: this candidate does not verify
    }
  }
  return plan(wasm.edge_ed25519(p.ticket, hit, Date.now()));
}

// Background work (`waitUntil`): one GET after the other until wasm says `idle`.
async function background() {
  try {
    let p = plan(wasm.edge_background(Date.now()));
    for (;;) {
      switch (p.kind) {
        case "idle":
          return;
        case "fetch":
          p = await get(p, wasm.edge_job_fetched);
          break;
        case "jwks":
          p = await jwks(p, wasm.edge_job_joined);
          break;
        default:
          throw new PlanError(`plan kind ${p.kind} is not background work`);
      }
    }
  } catch (e) {
    console.error(JSON.stringify({ event: "background_failed", detail: errorText(e) }));
    noteCrash(e);
  }
}

// A `forward` plan: to the origin (or the static assets), then wasm hears how it went.
async function forwardTo(p, request, env, ctx, body) {
  const start = Date.now();
  if (p.target === "assets") {
    const resp = await env.ASSETS.fetch(request);
    const after = plan(wasm.edge_forwarded(resp.status, Date.now() - start, Date.now(), frame(p.after)));
    if (after.background) ctx.waitUntil(background());
    return resp;
  }
  let resp = null;
  try {
    resp = await forward(request, p.url, p.drop, p.setNames, p.setValues, body ?? undefined, p.timeoutMs);
  } catch (e) {
    console.error(JSON.stringify({ event: "origin_error", after: p.after, detail: String(e) }));
  }
  const after = plan(wasm.edge_forwarded(resp ? resp.status : 0, Date.now() - start, Date.now(), frame(p.after)));
  if (after.background) ctx.waitUntil(background());
  if (after.kind === "respond") return respond(after);
  if (after.kind !== "decorate") throw new PlanError(`plan kind ${after.kind} does not follow a forward`);
  if (!after.serverTiming) return decorate(resp, p.responseNames, p.responseValues); // as fetched if both are empty
  const names = p.responseNames ? p.responseNames + "\nserver-timing" : "server-timing";
  const values = p.responseNames ? p.responseValues + "\n" + after.serverTiming : after.serverTiming;
  return decorate(resp, names, values);
}

async function handle(request, env, ctx) {
  if (!configured) {
    wasm.edge_configure(env);
    configured = true;
  }
  const h = request.headers;
  const [fields, absent] = planFields(request);
  let p = plan(wasm.edge_plan(absent, Date.now(), frame(fields)));
  let body; // a body read for the decision, forwarded as these exact bytes
  for (;;) {
    if (p.background) ctx.waitUntil(background());
    switch (p.kind) {
      case "respond":
        return respond(p);
      case "forward":
        return forwardTo(p, request, env, ctx, body);
      case "verify":
        p = await verify(p);
        break;
      case "read_body": {
        const present = p.headers.filter((n) => h.has(n));
        const length = h.get("content-length");
        try {
          body = await readCapped(request, p.maxBytes, length);
        } catch (e) {
          // A broken upload reads as one too large to take: refused, never half-verified.
          console.error(JSON.stringify({ event: "body_read_failed", detail: errorText(e) }));
          body = null;
        }
        const fields = frame(present.join("\n"), present.map((n) => h.get(n)).join("\n"), length, body);
        p = plan(wasm.edge_body(p.ticket, Date.now(), fields));
        break;
      }
      case "fetch":
        p = await get(p, wasm.edge_fetched);
        break;
      case "sync_wait":
        p = await syncWait(p);
        break;
      case "jwks":
        p = await jwks(p, wasm.edge_joined);
        break;
      case "limits":
        p = await limits(p, env);
        break;
      case "ed25519":
        p = await ed25519(p);
        break;
      default:
        throw new PlanError(`plan kind ${p.kind} is not a step of a request`);
    }
  }
}

export default {
  async fetch(request, env, ctx) {
    resetIfCrashed();
    try {
      return await handle(request, env, ctx);
    } catch (e) {
      if (e instanceof PlanError || e instanceof FrameError) {
        // wasm and this module disagree about the protocol: a build mismatch, said loudly.
        console.error(JSON.stringify({ event: "plan_invalid", detail: e.message }));
        return new Response(JSON.stringify({ error: "internal_error", message: "internal error" }), {
          status: 500,
          headers: { "content-type": "application/json", "cache-control": "no-store" },
        });
      }
      noteCrash(e);
      throw e;
    }
  },
};

// The `RateLimiter` Durable Object (one per key shard). wasm decides everything
// (src/worker/rate_limiter.rs over the core's src/ratelimit/shard.rs, whose docs say why the count
// is exact and durable); this class does the storage calls, reads the clock and builds the
// Response. Its wasm state is rebuilt if the instance was reset (memory is a cache: storage has
// every count), and a wasm object is fetched again after every await for the same reason.
// Objects whose JS side was collected: forget their wasm side (unless the instance was reset
// since: that one is gone with it).
const shardsGone = new FinalizationRegistry(({ id, instance }) => {
  if (instance === init.instanceId) wasm.edge_rl_free(id);
});

export class RateLimiter {
  constructor(state, env) {
    this.state = state;
    this.env = env;
    this.build();
  }
  build() {
    this.shard = wasm.edge_rl_new();
    this.instanceId = init.instanceId;
    shardsGone.register(this, { id: this.shard, instance: this.instanceId });
  }
  current() {
    resetIfCrashed();
    if (this.instanceId !== init.instanceId) this.build();
    return this.shard;
  }
  async fetch(request) {
    try {
      return await this.check(request);
    } catch (e) {
      noteCrash(e);
      throw e;
    }
  }
  async alarm() {
    try {
      await this.sweep();
    } catch (e) {
      noteCrash(e);
      throw e;
    }
  }

  // A check's answer (src/worker/rate_limiter.rs: `decision`), read at once.
  decision(answer) {
    const [step, key, tat, alarmAt, text] = readFrame(mem(), answer, 5);
    if (step === "error") throw new Error("rate limiter: no such object in wasm");
    return { step, key, tat, alarmAt, text };
  }

  async check(request) {
    const storage = this.state.storage;
    const path = new URL(request.url).pathname;
    let d = this.decision(wasm.edge_rl_check(this.current(), Date.now(), frame(path)));
    if (d.step === "load") {
      const stored = await storage.get(d.key);
      const tat = typeof stored === "bigint" ? stored.toString() : undefined;
      d = this.decision(wasm.edge_rl_loaded(this.current(), Date.now(), frame(path, tat)));
    }
    if (d.step === "malformed") return new Response("bad rate-limit check", { status: 400 });
    if (d.step !== "decided") throw new Error(`rate limiter: unknown check step ${d.step}`);
    // From the decision to issuing the write, no await: the check is atomic. The write is not
    // awaited: the output gate holds this answer until it is durable.
    if (d.tat !== undefined) storage.put(d.key, BigInt(d.tat));
    if (d.alarmAt !== undefined) {
      if ((await storage.getAlarm()) === null) await storage.setAlarm(Number(d.alarmAt));
      wasm.edge_rl_alarm_armed(this.current());
    }
    return new Response(d.text, { headers: { "content-type": "text/plain; charset=utf-8" } });
  }

  // A sweep step's answer: [what, ...values]; `error` throws (the runtime retries a failed alarm).
  step(answer) {
    const [what, ...values] = readFrame(mem(), answer);
    if (what === "error") throw new Error(`rate limiter: ${values[0]}`);
    return [what, values];
  }

  // Deletes passed keys from storage, page by page, and re-arms while keys remain.
  async sweep() {
    const storage = this.state.storage;
    const shard = this.current();
    const instance = this.instanceId;
    const limit = wasm.edge_rl_sweep_start(shard, Date.now());
    // The sweep's progress lives in the wasm instance: if that was reset meanwhile, fail (the
    // runtime retries a failed alarm). Ids are per instance, so the instance is what is compared.
    const same = () => {
      this.current();
      if (this.instanceId !== instance) throw new Error("rate limiter: wasm instance reset during the sweep");
    };
    if (limit === 0) throw new Error("rate limiter: no such object in wasm");
    let start;
    do {
      const page = await storage.list(start === undefined ? { limit } : { start, limit });
      same();
      for (const [key, value] of page) {
        const tat = typeof value === "bigint" ? value.toString() : undefined;
        const taken = wasm.edge_rl_sweep_entry(shard, frame(key, tat));
        if (!taken) throw new Error("rate limiter: sweep entry refused (no sweep under way)");
      }
      for (;;) {
        const [what, keys] = this.step(wasm.edge_rl_sweep_deletion(shard));
        if (what === "done") break;
        await storage.delete(keys);
        same();
      }
      const [what, next] = this.step(wasm.edge_rl_sweep_next_page(shard));
      start = what === "page" ? next[0] : undefined;
    } while (start !== undefined);
    const [what, at] = this.step(wasm.edge_rl_sweep_finish(shard, Date.now()));
    if (what === "alarm") await storage.setAlarm(Number(at[0]));
  }
}

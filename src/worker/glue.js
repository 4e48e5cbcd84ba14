// The few steps of the request path that touch many JS objects, done on the JS side in one call
// each (every JS↔wasm crossing costs; a header-by-header copy from Rust took ~5 crossings per
// header), and the WebCrypto calls. They decide nothing: Rust passes the names to drop and the
// headers to set, and says which key and algorithm verify a signature.

// What `edge_plan` reads of a request, in one string (one copy into wasm instead of ten):
// method, URL, header names (lower case, newline-joined), then seven headers, separated by NUL;
// and which of those seven are absent, as a bit mask (bit 0: authorization). Read by
// src/request_fields.rs, whose PLAN_HEADERS is this list in this order (tests/js checks they
// agree). One pass over the headers gives the names and the seven values (a `get` per header
// cost a runtime call each; docs/PERFORMANCE.md, session 14); iteration yields each name once
// with its values combined, as `get` does.
export const PLAN_HEADERS = ["authorization", "cookie", "cf-connecting-ip", "x-request-id", "accept", "origin", "sec-fetch-site"];
const PLAN_INDEX = new Map(PLAN_HEADERS.map((n, i) => [n, i]));
const ALL_ABSENT = (1 << PLAN_HEADERS.length) - 1;

export function planFields(request) {
  const values = [null, null, null, null, null, null, null];
  let names = "";
  let absent = ALL_ABSENT;
  for (const [k, v] of request.headers) {
    names += names ? "\n" + k : k;
    const i = PLAN_INDEX.get(k);
    if (i !== undefined) {
      values[i] = v;
      absent &= ~(1 << i);
    }
  }
  return [request.method + "\0" + request.url + "\0" + names + "\0" + values.join("\0"), absent];
}

/** A plan's newline-joined header names and values as Headers. */
export function headersOf(names, values) {
  const n = names ? names.split("\n") : [];
  const v = values.split("\n");
  const headers = new Headers();
  for (let i = 0; i < n.length; i++) headers.append(n[i], v[i]);
  return headers;
}

function lines(s) {
  return s ? s.split("\n") : [];
}

/**
 * Forwards `req` to `url`: copies its headers minus `drop`, sets `setNames[i] = setValues[i]`,
 * streams its body (or sends `body` when given), never follows redirects, aborts after `timeoutMs`.
 */
export function forward(req, url, drop, setNames, setValues, body, timeoutMs) {
  const headers = new Headers(req.headers);
  for (const k of lines(drop)) headers.delete(k);
  const names = lines(setNames), values = setValues.split("\n");
  for (let i = 0; i < names.length; i++) headers.set(names[i], values[i]);
  const method = req.method;
  const init = { method, headers, redirect: "manual", signal: AbortSignal.timeout(timeoutMs) };
  if (method !== "GET" && method !== "HEAD") init.body = body !== undefined ? body : req.body;
  return fetch(url, init);
}

/**
 * The request body as bytes, or null when it is longer than `max` (then reading stops at the
 * first chunk past it, and a declared `Content-Length` above `max` reads nothing). `declared`
 * is the raw header; like the core (`BodyRead::declared`), only plain digits count as a declared
 * length. The one body reader (entry.js's `read_body` plans).
 */
const DRAIN_BOUND = 8;

export async function readCapped(req, max, declared) {
  const n = declared != null && /^\s*\d+\s*$/.test(declared) ? Number(declared) : NaN;
  if (n > max) return null;
  if (!req.body) return new Uint8Array(0);
  if (!Number.isNaN(n)) {
    const bytes = new Uint8Array(await req.arrayBuffer());
    return bytes.length > max ? null : bytes;
  }
  const reader = req.body.getReader();
  const chunks = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.length;
    if (length > max) {
      // Too large: nothing more is kept, but the upload is drained (up to a bound) before the 413
      // goes out — answering a chunked upload mid-way broke the next request in wrangler dev.
      while (length <= DRAIN_BOUND * max) {
        const next = await reader.read();
        if (next.done) return null;
        length += next.value.length;
      }
      reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** The response with extra headers (fetched responses are immutable: rewrap around the same body). */
export function decorate(resp, setNames, setValues) {
  const names = lines(setNames);
  if (!names.length) return resp;
  const out = new Response(resp.body, resp);
  const values = setValues.split("\n");
  for (let i = 0; i < names.length; i++) out.headers.set(names[i], values[i]);
  return out;
}

// ---------------------------------------------------------------- remote rate limits

// The rate-limit Durable Object namespace's binding name (src/ratelimit/durable.rs BINDING; a
// node test checks they agree).
export const DO_NAMESPACE = "RATE_LIMITER";

function oneLine(s) {
  return String(s).replace(/[\r\n]/g, " ");
}

/**
 * Asks each remote rate-limit backend of a `limits` plan — `durable`: the namespace's object
 * named `names[i]` with the check's URL `args[i]`; `binding`: `env[names[i]].limit({ key: args[i] })`
 * — all at once, and returns one answer line per check: `<status> <text>` (the object's status and
 * body; `200 <success>` from a binding), status 0 when the call threw or the binding is missing.
 * Decides nothing: wasm reads the lines (`RemoteOutcome::read`).
 */
export function askLimits(backends, names, args, env) {
  return Promise.all(backends.map(async (backend, i) => {
    try {
      if (backend === "durable") {
        const ns = env[DO_NAMESPACE];
        if (!ns) return `0 no Durable Object namespace bound as ${DO_NAMESPACE}`;
        const resp = await ns.get(ns.idFromName(names[i])).fetch(args[i], { method: "POST" });
        return `${resp.status} ${oneLine(await resp.text())}`;
      }
      const binding = env[names[i]];
      if (!binding) return `0 no rate-limiting binding named ${names[i]} in this Worker`;
      const { success } = await binding.limit({ key: args[i] });
      return `200 ${oneLine(success)}`;
    } catch (e) {
      return `0 ${oneLine(e instanceof Error ? `${e.name}: ${e.message}` : e)}`;
    }
  }));
}

// ---------------------------------------------------------------- WebCrypto
// Used by entry.js's `verify` and `ed25519` plans. Which algorithm a token may use is decided in
// Rust (the key pins it); this only says how to ask WebCrypto for it.

// WebCrypto parameters per JWS algorithm: [import, verify]. An algorithm not listed fails closed.
const ALGS = {
  EdDSA: [{ name: "Ed25519" }, { name: "Ed25519" }],
  ES256: [{ name: "ECDSA", namedCurve: "P-256" }, { name: "ECDSA", hash: "SHA-256" }],
  ES384: [{ name: "ECDSA", namedCurve: "P-384" }, { name: "ECDSA", hash: "SHA-384" }],
  ES512: [{ name: "ECDSA", namedCurve: "P-521" }, { name: "ECDSA", hash: "SHA-512" }],
  RS256: [{ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, { name: "RSASSA-PKCS1-v1_5" }],
  RS384: [{ name: "RSASSA-PKCS1-v1_5", hash: "SHA-384" }, { name: "RSASSA-PKCS1-v1_5" }],
  RS512: [{ name: "RSASSA-PKCS1-v1_5", hash: "SHA-512" }, { name: "RSASSA-PKCS1-v1_5" }],
  // RFC 7518 §3.5: the PSS salt is as long as the hash output.
  PS256: [{ name: "RSA-PSS", hash: "SHA-256" }, { name: "RSA-PSS", saltLength: 32 }],
  PS384: [{ name: "RSA-PSS", hash: "SHA-384" }, { name: "RSA-PSS", saltLength: 48 }],
  PS512: [{ name: "RSA-PSS", hash: "SHA-512" }, { name: "RSA-PSS", saltLength: 64 }],
};
// Imported keys by the id Rust gives them (a hash of algorithm and key material, so a rotated
// key reusing a `kid` never hits a stale entry). Bounded.
const keys = new Map();
const MAX_KEYS = 256;

function params(alg) {
  const p = ALGS[alg];
  if (!p) throw new Error(`no WebCrypto parameters for alg ${alg}`);
  return p;
}

/** The key imported earlier under `keyId`, or undefined. */
export function cachedKey(keyId) {
  return keys.get(keyId);
}

/**
 * Imports a public key to verify `alg` signatures: `format` "raw" (bytes) or "jwk" (an object).
 * Cached under `keyId` when one is given. Rejects for an unknown alg or an unusable key.
 */
export async function importKey(alg, format, data, keyId) {
  const key = await crypto.subtle.importKey(format, data, params(alg)[0], false, ["verify"]);
  if (keyId !== undefined) {
    if (keys.size >= MAX_KEYS) keys.clear();
    keys.set(keyId, key);
  }
  return key;
}

/**
 * Whether `signature` over `data` (bytes) verifies with `key` under `alg`: a promise of a boolean.
 * Rejects for an unknown alg or when WebCrypto throws. Called synchronously up to
 * `crypto.subtle.verify`, which copies the bytes at once (Rust passes views of wasm memory).
 */
export function verifySignature(alg, key, signature, data) {
  try {
    return crypto.subtle.verify(params(alg)[1], key, signature, data);
  } catch (e) {
    return Promise.reject(e);
  }
}

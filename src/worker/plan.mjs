// The JS side of the plan protocol (src/plan.rs owns the format and its spec): decodes the one
// string a call into wasm returns. Pure (no Worker globals), so `node --test` checks it against
// the golden encodings in tests/vectors/plan/. Anything it does not know — another version, a
// kind it has no name for, a wrong field count — throws a PlanError: never a guess, never a
// fallback.

export const PLAN_VERSION = "1";

export class PlanError extends Error {
  constructor(message) {
    super(message);
    this.name = "PlanError";
  }
}

// Fields after the first three (version, kind, background flag), per kind.
const FIELDS = new Map([
  ["respond", 4],
  ["forward", 9],
  ["verify", 5],
  ["read_body", 3],
  ["fetch", 5],
  ["sync_wait", 2],
  ["jwks", 4],
  ["limits", 4],
  ["ed25519", 4],
  ["idle", 0],
  ["decorate", 1],
  ["key", 3],
  ["no_key", 0],
]);

// A newline-joined list ("" is the empty list).
function lines(s) {
  return s === "" ? [] : s.split("\n");
}

function ticket(s) {
  if (!/^\d+$/.test(s)) throw new PlanError(`plan ticket ${JSON.stringify(s)} is not a number`);
  return Number(s);
}

// Every decoded plan has this one shape, whatever its kind (absent fields are `null`): the
// driver's `p.kind`, `p.background`, `p.ticket` … then see one hidden class across the request
// mix, so V8 keeps those loads monomorphic. One object literal per kind made them megamorphic
// once a Worker had served two kinds (generic load ICs on every request; measured with callgrind,
// docs/PERFORMANCE.md, session 10). The shape is one literal of constants, written in
// `decodePlan` itself: V8 copies such a literal from its boilerplate in one step. A class whose
// constructor set 33 fields ran in baseline code, one store IC per field, and so did a literal of
// `undefined`s (not a constant to V8): ~8.7 k and ~6.3 k instructions per webhook request (three
// plans); docs/PERFORMANCE.md, session 18.

/** Decodes a plan string into the one plan shape: `version`, `kind`, `background` and the kind's fields. */
export function decodePlan(s) {
  if (typeof s !== "string") throw new PlanError("plan is not a string");
  const f = s.split("\0");
  if (f[0] !== PLAN_VERSION) throw new PlanError(`unknown plan version ${JSON.stringify(f[0])}`);
  const kind = f[1];
  const n = FIELDS.get(kind);
  if (n === undefined) throw new PlanError(`unknown plan kind ${JSON.stringify(kind)}`);
  if (f.length !== 3 + n) throw new PlanError(`plan kind ${kind} has ${f.length - 3} fields, expected ${n}`);
  if (f[2] !== "0" && f[2] !== "1") throw new PlanError(`plan background flag ${JSON.stringify(f[2])} is not 0 or 1`);
  const p = {
    version: 1,
    kind: "",
    background: false,
    status: null, // respond
    headerNames: null, // respond, fetch
    headerValues: null,
    body: null,
    target: null, // forward
    issuer: null, // jwks
    url: null, // forward, fetch, jwks
    timeoutMs: null, // forward, fetch, sync_wait, jwks
    after: null,
    drop: null,
    setNames: null,
    setValues: null,
    responseNames: null,
    responseValues: null,
    ticket: null, // verify, read_body, fetch, sync_wait, jwks, limits, ed25519
    keyId: null, // verify
    alg: null, // verify, key
    signingInput: null,
    signature: null,
    maxBytes: null, // read_body
    headers: null,
    serverTiming: null, // decorate
    format: null, // key
    data: null,
    backends: null, // limits
    names: null,
    args: null,
    message: null, // ed25519
    keys: null,
    signatures: null,
  };
  p.kind = kind;
  p.background = f[2] === "1";
  switch (kind) {
    case "respond":
      p.status = Number(f[3]);
      p.headerNames = f[4];
      p.headerValues = f[5];
      p.body = f[6];
      break;
    case "forward":
      if (f[3] !== "origin" && f[3] !== "assets") throw new PlanError(`unknown forward target ${JSON.stringify(f[3])}`);
      p.target = f[3];
      p.url = f[4];
      p.timeoutMs = Number(f[5]);
      p.after = f[6];
      p.drop = f[7];
      p.setNames = f[8];
      p.setValues = f[9];
      p.responseNames = f[10];
      p.responseValues = f[11];
      break;
    case "verify":
      p.ticket = ticket(f[3]);
      p.keyId = f[4];
      p.alg = f[5];
      p.signingInput = f[6];
      p.signature = f[7];
      break;
    case "read_body":
      p.ticket = ticket(f[3]);
      p.maxBytes = Number(f[4]);
      p.headers = f[5] ? f[5].split("\n") : [];
      break;
    case "fetch":
      p.ticket = ticket(f[3]);
      p.url = f[4];
      p.timeoutMs = Number(f[5]);
      p.headerNames = f[6];
      p.headerValues = f[7];
      break;
    case "sync_wait":
      p.ticket = ticket(f[3]);
      p.timeoutMs = Number(f[4]);
      break;
    case "jwks":
      p.ticket = ticket(f[3]);
      p.issuer = f[4];
      p.url = f[5];
      p.timeoutMs = Number(f[6]);
      break;
    case "limits": {
      p.ticket = ticket(f[3]);
      p.backends = lines(f[4]);
      p.names = lines(f[5]);
      p.args = lines(f[6]);
      if (p.names.length !== p.backends.length || p.args.length !== p.backends.length) {
        throw new PlanError(`plan kind limits has ${p.backends.length} backends, ${p.names.length} names, ${p.args.length} arguments`);
      }
      for (const b of p.backends) {
        if (b !== "durable" && b !== "binding") throw new PlanError(`unknown rate-limit backend ${JSON.stringify(b)}`);
      }
      break;
    }
    case "ed25519":
      p.ticket = ticket(f[3]);
      p.message = f[4];
      p.keys = lines(f[5]);
      p.signatures = lines(f[6]);
      if (p.keys.length !== p.signatures.length) {
        throw new PlanError(`plan kind ed25519 has ${p.keys.length} keys, ${p.signatures.length} signatures`);
      }
      break;
    case "decorate":
      p.serverTiming = f[3];
      break;
    case "key":
      if (f[3] !== "raw" && f[3] !== "jwk") throw new PlanError(`unknown key format ${JSON.stringify(f[3])}`);
      p.format = f[3];
      p.alg = f[4];
      p.data = f[5];
      break;
    default: // no_key, idle: nothing after the common fields
  }
  return p;
}

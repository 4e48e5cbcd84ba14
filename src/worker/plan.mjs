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
  ["wasm_io", 1],
  ["decorate", 1],
  ["key", 3],
  ["no_key", 0],
]);

function ticket(s) {
  if (!/^\d+$/.test(s)) throw new PlanError(`plan ticket ${JSON.stringify(s)} is not a number`);
  return Number(s);
}

/** Decodes a plan string into an object with `version`, `kind`, `background` and the kind's fields. */
export function decodePlan(s) {
  if (typeof s !== "string") throw new PlanError("plan is not a string");
  const f = s.split("\0");
  if (f[0] !== PLAN_VERSION) throw new PlanError(`unknown plan version ${JSON.stringify(f[0])}`);
  const kind = f[1];
  const n = FIELDS.get(kind);
  if (n === undefined) throw new PlanError(`unknown plan kind ${JSON.stringify(kind)}`);
  if (f.length !== 3 + n) throw new PlanError(`plan kind ${kind} has ${f.length - 3} fields, expected ${n}`);
  if (f[2] !== "0" && f[2] !== "1") throw new PlanError(`plan background flag ${JSON.stringify(f[2])} is not 0 or 1`);
  const p = { version: 1, kind, background: f[2] === "1" };
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
    case "wasm_io":
      p.ticket = ticket(f[3]);
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
    case "no_key":
      break;
  }
  return p;
}

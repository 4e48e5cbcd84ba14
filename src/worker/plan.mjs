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
  const background = f[2] === "1";
  // One object literal per kind (V8 builds each with a fixed shape, no per-property transitions).
  switch (kind) {
    case "respond":
      return { version: 1, kind, background, status: Number(f[3]), headerNames: f[4], headerValues: f[5], body: f[6] };
    case "forward":
      if (f[3] !== "origin" && f[3] !== "assets") throw new PlanError(`unknown forward target ${JSON.stringify(f[3])}`);
      return {
        version: 1, kind, background, target: f[3], url: f[4], timeoutMs: Number(f[5]), after: f[6], drop: f[7],
        setNames: f[8], setValues: f[9], responseNames: f[10], responseValues: f[11],
      };
    case "verify":
      return { version: 1, kind, background, ticket: ticket(f[3]), keyId: f[4], alg: f[5], signingInput: f[6], signature: f[7] };
    case "read_body":
      return { version: 1, kind, background, ticket: ticket(f[3]), maxBytes: Number(f[4]), headers: f[5] ? f[5].split("\n") : [] };
    case "wasm_io":
      return { version: 1, kind, background, ticket: ticket(f[3]) };
    case "decorate":
      return { version: 1, kind, background, serverTiming: f[3] };
    case "key":
      if (f[3] !== "raw" && f[3] !== "jwk") throw new PlanError(`unknown key format ${JSON.stringify(f[3])}`);
      return { version: 1, kind, background, format: f[3], alg: f[4], data: f[5] };
    default: // no_key
      return { version: 1, kind, background };
  }
}

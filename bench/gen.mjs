// Generates everything a benchmark run needs, fresh each time (never well-known secrets):
// keys + JWKS, tokens per algorithm, a Stripe-format webhook, wrk request files, and the
// workerd config that runs our edge, the JS comparison workers and the origin stub in ONE process.
//   node bench/gen.mjs <out-dir> <edge-build-dir> [<wasm-floor-build-dir>]
// BASELINE=<build dir>: also run that build (another revision) as `edge0` / `edgev0`, with the
// same bindings, so a change is measured against its baseline in the same process and rounds.
import { generateKeyPair, exportJWK, SignJWT } from "jose";
import { execFileSync } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { relative, resolve } from "node:path";

const out = resolve(process.argv[2] || "bench/out");
const build = resolve(process.argv[3] || "build");
// The wasm floor (bench/wasm-floor/, built by bench/run.sh): start-up rows only, when it was built.
const floorBuild = process.argv[4] ? resolve(process.argv[4]) : null;
const P = JSON.parse(process.env.BENCH_PORTS_JSON || "{}");
const ports = { edge: 18780, edgev: 18785, jose: 18781, webhook: 18782, proxy: 18783, ratelimit: 18784, floor: 18786, floormac: 18787, origin: 18790, edge0: 18788, edgev0: 18789, ...P };
const baseline = process.env.BASELINE ? resolve(process.env.BASELINE) : null;
const workers = ["edge", "edgev", "jose", "webhook", "proxy", "ratelimit", "floor", "floormac", "origin", ...(baseline ? ["edge0", "edgev0"] : [])];
mkdirSync(`${out}/req`, { recursive: true });

const ISS = "https://issuer.bench.invalid", AUD = "edge-auth-bench";
const b64u = (b) => Buffer.from(b).toString("base64url");
const now = Math.floor(Date.now() / 1000);

// ---- keys and tokens ----
const hsSecret = randomBytes(32);
const keys = { hs: { alg: "HS256", priv: hsSecret, jwk: { kty: "oct", k: b64u(hsSecret) } } };
for (const [kid, alg, opts] of [["ed", "EdDSA", { crv: "Ed25519" }], ["es", "ES256", {}], ["rs", "RS256", { modulusLength: 2048 }]]) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { ...opts, extractable: true });
  keys[kid] = { alg, priv: privateKey, jwk: await exportJWK(publicKey) };
}
const jwks = { keys: Object.entries(keys).map(([kid, k]) => ({ ...k.jwk, kid, alg: k.alg, use: "sig" })) };
const claims = { sub: "user-1234", sid: "sess-5678", roles: ["member"], permissions: ["items:read", "items:write"] };
const tokens = {};
for (const [kid, k] of Object.entries(keys)) {
  tokens[k.alg] = await new SignJWT(claims).setProtectedHeader({ alg: k.alg, kid, typ: "JWT" })
    .setIssuer(ISS).setAudience(AUD).setIssuedAt(now).setExpirationTime(now + 4 * 3600).sign(k.priv);
}
// A well-formed HS256 token with a wrong signature: exercises verification, then 401.
const [h, p, s] = tokens.HS256.split(".");
tokens.invalid = `${h}.${p}.${b64u(Buffer.from(s, "base64url").map((b, i) => (i === 0 ? b ^ 1 : b)))}`;

// ---- Stripe-format webhook, 1 KiB body ----
const stripeSecret = "whsec_" + randomBytes(24).toString("base64");
// Shaped like a real Stripe event: the top-level `id` first (our edge reads it as the delivery id).
// The replay window is off in this config (wrk cannot sign a fresh id per request; with it on, the
// edge would answer every repeat itself, 200 duplicate): every request is verified + forwarded.
let body = JSON.stringify({ id: "evt_1QbenchKiB0edgeauth", object: "event", type: "invoice.paid",
  data: { object: { id: "in_1", pad: "" } } });
body = body.replace('"pad":""', `"pad":"${"x".repeat(1024 - body.length)}"`);
const sig = createHmac("sha256", stripeSecret).update(`${now}.${body}`).digest("hex");
const envelopeSecret = randomBytes(32).toString("hex");

// ---- wrk request files: <name>.headers ("Name: value" lines) + optional <name>.body ----
const req = (name, headers, reqBody, method = "GET") => {
  writeFileSync(`${out}/req/${name}.headers`, Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join("\n") + "\n");
  writeFileSync(`${out}/req/${name}.method`, method);
  if (reqBody !== undefined) writeFileSync(`${out}/req/${name}.body`, reqBody);
};
for (const alg of ["HS256", "EdDSA", "ES256", "RS256"]) req(alg.toLowerCase(), { Authorization: `Bearer ${tokens[alg]}` });
req("invalid", { Authorization: `Bearer ${tokens.invalid}` });
req("plain", {});
req("stripe", { "Stripe-Signature": `t=${now},v1=${sig}`, "Content-Type": "application/json" }, body, "POST");
// The same delivery with its body altered (bench/run.sh checks the tight floor refuses it).
req("stripe-tampered", { "Stripe-Signature": `t=${now},v1=${sig}`, "Content-Type": "application/json" }, body.replace('"id":"evt_', '"id":"evX_'), "POST");

// ---- workerd config ----
// Our Worker's variables plus the packed configuration a deploy adds (scripts/deploy-check.sh:
// `edge-config-check --pack`, README "Configuration"), so a fresh isolate here starts as a
// deployed one does. PACK_CONFIG=0 leaves it out (the Worker then parses the JSON variables).
function withPack(vars, name) {
  if (process.env.PACK_CONFIG === "0") return vars;
  const file = `${out}/vars-${name}.json`;
  writeFileSync(file, JSON.stringify(vars));
  const packed = execFileSync("cargo", ["run", "--release", "--quiet", "--bin", "edge-config-check", "--", file, "--pack"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  }).trim();
  return { ...vars, EDGE_CONFIG_PACKED: packed };
}
const origin = `http://127.0.0.1:${ports.origin}`;
const edgeVars = {
  DEPLOY_ENV: "development", // the bench origin is on loopback
  ORIGIN_URL: origin,
  ENVELOPE_SECRET: envelopeSecret,
  ISSUERS: JSON.stringify([{ issuer: ISS, audiences: [AUD], jwks }]),
  ROUTES: JSON.stringify([
    { id: "stripe", methods: ["POST"], path: "/webhooks/stripe", access: { webhook: "stripe" } },
    { id: "limited", path: "/limited/**", access: "public", rate_limits: ["bench_tiny"] },
    { id: "api", path: "/api/**", access: "authenticated" },
  ]),
  // Replay window off: wrk resends one delivery, and the JS comparison does verify + forward only.
  WEBHOOK_STRIPE: JSON.stringify({ provider: "stripe", secrets: [stripeSecret], tolerance_secs: 3600, replay_window: false }),
  RATE_LIMITS: JSON.stringify([{ id: "bench_tiny", key: ["route"], limit: 1, period_secs: 3600, backend: "local" }]),
  // The comparison Workers log nothing; ours logs every denial and failure but not the requests
  // the origin served (the default, `all`, adds one console.log per request: docs/PERFORMANCE.md).
  ACCESS_LOG: "denials",
};
// The same edge with the decision caches off: every request verifies its token (the per-algorithm
// scenarios, fair against jose which verifies every time). `edge` keeps the defaults (cache on).
const edgeVerifyVars = withPack({ ...edgeVars, DECISION_CACHE_TTL_SECONDS: "0", NEGATIVE_CACHE_TTL_SECONDS: "0" }, "edgev");
Object.assign(edgeVars, withPack(edgeVars, "edge"));
const q = (s) => JSON.stringify(String(s)); // capnp text literals take JSON-style escapes
// capnp resolves `embed` paths relative to the config file (an absolute path would be looked up
// on the import path), so every embedded file is named relative to the out dir.
const rel = (f) => relative(out, f);
const text = (vars) => Object.entries(vars).map(([k, v]) => `(name = ${q(k)}, text = ${q(v)})`).join(",\n    ");
const jsShared = { ORIGIN_URL: origin, ENVELOPE_SECRET: envelopeSecret };
const compat = `compatibilityDate = "2026-04-01"`;
const jsWorker = (file, vars) => `(modules = [(name = "worker.js", esModule = embed ${q(rel(`${out}/${file}`))})],
  bindings = [${text(vars)}], globalOutbound = "loopback", ${compat})`;
// A Rust/wasm Worker built by scripts/build-worker.sh into `dir` (index.js + index_bg.wasm).
const wasmWorker = (dir, vars) => `(
  modules = [
    (name = "index.js", esModule = embed ${q(rel(`${dir}/index.js`))}),
    (name = "index_bg.wasm", wasm = embed ${q(rel(`${dir}/index_bg.wasm`))}),
  ],
  bindings = [
    ${text(vars)}
  ],
  globalOutbound = "loopback",
  ${compat},
)`;
const edgeWorker = (vars) => wasmWorker(build, vars);
const capnp = `# Generated by bench/gen.mjs — do not edit.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
${workers.map((n) => `    (name = "${n}", worker = .${n}),`).join("\n")}
    (name = "loopback", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [
${workers.map((n) => `    (name = "${n}", address = "127.0.0.1:${ports[n]}", http = (), service = "${n}"),`).join("\n")}
  ],
);

const edge :Workerd.Worker = ${edgeWorker(edgeVars)};
const edgev :Workerd.Worker = ${edgeWorker(edgeVerifyVars)};
${baseline ? `const edge0 :Workerd.Worker = ${wasmWorker(baseline, edgeVars)};
const edgev0 :Workerd.Worker = ${wasmWorker(baseline, edgeVerifyVars)};
` : ""}const jose :Workerd.Worker = ${jsWorker("jose-worker.js", { ...jsShared, JWKS: JSON.stringify(jwks), ISSUER: ISS, AUDIENCE: AUD })};
const webhook :Workerd.Worker = ${jsWorker("webhook-worker.js", { ...jsShared, STRIPE_SECRET: stripeSecret, TOLERANCE_SECS: "3600" })};
const proxy :Workerd.Worker = ${jsWorker("proxy-worker.js", { ORIGIN_URL: origin })};
const ratelimit :Workerd.Worker = ${jsWorker("ratelimit-worker.js", { ORIGIN_URL: origin, LIMIT: "1", PERIOD_SECS: "3600" })};
const floor :Workerd.Worker = ${jsWorker("floor-worker.js", { ORIGIN_URL: origin, JWKS: JSON.stringify(jwks) })};
const floormac :Workerd.Worker = ${jsWorker("floor-worker.js", { ...jsShared, JWKS: JSON.stringify(jwks), STRIPE_SECRET: stripeSecret, MACS: "1" })};
const origin :Workerd.Worker = (modules = [(name = "worker.js", esModule = embed ${q(rel(`${out}/origin-worker.js`))})], ${compat});
`;
writeFileSync(`${out}/config.capnp`, capnp);

// Start-up configs, one Worker each (with the origin stub): the edge, jose, and two baselines —
// the trivial JS Worker, and the same logging one line per request.
const single = (name, worker) => `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = ${worker}), (name = "origin", worker = (modules = [(name = "worker.js", esModule = embed ${q(rel(`${out}/origin-worker.js`))})], ${compat})),
              (name = "loopback", network = (allow = ["public", "private", "local"]))],
  sockets = [(name = "http", address = "127.0.0.1:${ports.edge}", http = (), service = "main"),
             (name = "o", address = "127.0.0.1:${ports.origin}", http = (), service = "origin")],
);`;
writeFileSync(`${out}/startup-edge.capnp`, single("edge", edgeWorker(edgeVars)));
writeFileSync(`${out}/startup-jose.capnp`, single("jose", jsWorker("jose-worker.js", { ...jsShared, JWKS: JSON.stringify(jwks), ISSUER: ISS, AUDIENCE: AUD })));
for (const t of ["trivial", "trivial-log"]) {
  writeFileSync(`${out}/startup-${t}.capnp`, single(t, `(modules = [(name = "worker.js", esModule = embed ${q(rel(`${out}/${t}-worker.js`))})], ${compat})`));
}
// The wasm floor, two ways (var FLOOR): the smallest workers-rs Worker (answers ok), and HS256
// signature + forward with the same key the edge and jose get (no JSON, no claims).
if (floorBuild && existsSync(`${floorBuild}/index_bg.wasm`)) {
  writeFileSync(`${out}/startup-wasm-hello.capnp`, single("wasm-hello", wasmWorker(floorBuild, { FLOOR: "hello" })));
  writeFileSync(`${out}/startup-wasm-hs256.capnp`, single("wasm-hs256", wasmWorker(floorBuild, { FLOOR: "hs256", HS256_KEY: b64u(hsSecret), ORIGIN_URL: origin })));
}
// The bare wasm floor (bench/wasm-floor-bare/: no workers-rs, one synchronous export, JS does the
// forward — the shape of our Worker since issue 23), when env BARE_FLOOR names its build directory
// (bench/experiments/startup-ab.sh --floor).
if (process.env.BARE_FLOOR) {
  const bare = resolve(process.env.BARE_FLOOR);
  if (!existsSync(`${bare}/index_bg.wasm`)) throw new Error(`BARE_FLOOR=${bare}: no index_bg.wasm there`);
  writeFileSync(`${out}/startup-wasm-bare.capnp`, single("wasm-bare", wasmWorker(bare, { HS256_KEY: b64u(hsSecret), ORIGIN_URL: origin })));
}
writeFileSync(`${out}/ports.json`, JSON.stringify(ports));
console.log(`generated ${out}/config.capnp (edge :${ports.edge}, edge without caches :${ports.edgev}, jose :${ports.jose}, webhook :${ports.webhook}, proxy :${ports.proxy}, ratelimit :${ports.ratelimit}, floor :${ports.floor}, floor + MACs :${ports.floormac}, origin :${ports.origin})`);

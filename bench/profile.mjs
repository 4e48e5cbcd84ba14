// Counts JS↔wasm crossings per request of our edge: patches a copy of build/index.js so every
// wasm-bindgen import (wasm → JS) and export (JS → wasm) call is counted, runs it in workerd
// behind a wrapper that returns the counts of one request, and prints them per scenario.
// Needs bench/out from a bench/run.sh run (keys, config, request files).
//   node bench/profile.mjs [--top N]
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { resolve } from "node:path";

const root = resolve(new URL("..", import.meta.url).pathname);
const out = `${root}/bench/out`, prof = `${out}/prof`;
const top = +(process.argv[process.argv.indexOf("--top") + 1] || 12) || 12;
mkdirSync(prof, { recursive: true });

let glue = readFileSync(`${root}/build/index.js`, "utf8");
const re = /(\w+)=new WebAssembly\.Instance\((\w+),(\w+)\(\)\),(\w+)=\1\.exports/g;
const n = (glue.match(re) || []).length;
if (n < 1) throw new Error("could not find the wasm instantiation in build/index.js (glue changed?)");
glue = glue.replace(re, "$1=new WebAssembly.Instance($2,__cntI($3())),$4=__cntE($1.exports)");
glue = `globalThis.__wbgCounts=new Map();
function __bump(k){const c=globalThis.__wbgCounts;c.set(k,(c.get(k)||0)+1)}
function __cntI(imp){for(const ns of Object.values(imp))for(const [k,f] of Object.entries(ns))if(typeof f==="function")ns[k]=function(...a){__bump("wasm→js "+k.replace(/^__wbg_/,"").replace(/_[0-9a-f]{16}$/,""));return f.apply(this,a)};return imp}
function __cntE(ex){const o={};for(const [k,v] of Object.entries(ex))o[k]=typeof v==="function"?function(...a){__bump("js→wasm "+k);return v.apply(this,a)}:v;return o}
` + glue;
writeFileSync(`${prof}/index.js`, glue);
copyFileSync(`${root}/build/index_bg.wasm`, `${prof}/index_bg.wasm`);
writeFileSync(`${prof}/wrapper.js`, `import Edge from "./index.js";
export default {
  async fetch(request, env, ctx) {
    globalThis.__wbgCounts = new Map();
    const resp = await new Edge(ctx, env).fetch(request);
    await resp.arrayBuffer();
    const counts = [...globalThis.__wbgCounts].sort((a, b) => b[1] - a[1]);
    return Response.json({ status: resp.status, counts });
  },
};`);
// Reuse the generated edge worker config (bindings), swapping the modules.
const cfg = readFileSync(`${out}/config.capnp`, "utf8");
const edgeDef = cfg.slice(cfg.indexOf("const edgev :Workerd.Worker"), cfg.indexOf("const jose :Workerd.Worker"));
const ports = JSON.parse(readFileSync(`${out}/ports.json`, "utf8"));
const port = 18799;
const worker = edgeDef.replace("const edgev :Workerd.Worker", "const prof :Workerd.Worker")
  .replace(/modules = \[[\s\S]*?\],\n  bindings/, `modules = [
    (name = "wrapper.js", esModule = embed "wrapper.js"),
    (name = "index.js", esModule = embed "index.js"),
    (name = "index_bg.wasm", wasm = embed "index_bg.wasm"),
  ],
  bindings`);
const originDef = cfg.slice(cfg.indexOf("const origin :Workerd.Worker")).replace('embed "origin-worker.js"', 'embed "../origin-worker.js"');
writeFileSync(`${prof}/config.capnp`, `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "prof", worker = .prof), (name = "origin", worker = .origin),
              (name = "loopback", network = (allow = ["public", "private", "local"]))],
  sockets = [(name = "p", address = "127.0.0.1:${port}", http = (), service = "prof"),
             (name = "o", address = "127.0.0.1:${ports.origin}", http = (), service = "origin")],
);
${worker}
${originDef}`);

const wd = spawn(`${root}/node_modules/.bin/workerd`, ["serve", `${prof}/config.capnp`], { stdio: ["ignore", "ignore", "inherit"] });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const up = () => new Promise((r) => { const s = net.connect(port, "127.0.0.1", () => { s.destroy(); r(true); }); s.on("error", () => r(false)); });
const send = (path, req) => new Promise((res, rej) => {
  const headers = {};
  for (const l of readFileSync(`${out}/req/${req}.headers`, "utf8").split("\n")) { const i = l.indexOf(":"); if (i > 0) headers[l.slice(0, i)] = l.slice(i + 1).trim(); }
  let body; try { body = readFileSync(`${out}/req/${req}.body`); } catch {}
  const r = http.request({ host: "127.0.0.1", port, path, method: readFileSync(`${out}/req/${req}.method`, "utf8"), headers }, (resp) => {
    let d = ""; resp.on("data", (c) => (d += c)); resp.on("end", () => res(JSON.parse(d)));
  });
  r.on("error", rej); if (body) r.write(body); r.end();
});
try {
  for (let i = 0; !(await up()); i++) { if (i > 500) throw new Error("workerd did not start"); await sleep(10); }
  for (const [name, path, req] of [["HS256 + forward", "/api/items", "hs256"], ["ES256 + forward", "/api/items", "es256"],
    ["invalid token → 401", "/api/items", "invalid"], ["Stripe webhook 1 KiB", "/webhooks/stripe", "stripe"], ["public 429 route", "/limited/x", "plain"]]) {
    await send(path, req); await send(path, req); // warm: config, keys, caches
    const { status, counts } = await send(path, req);
    const total = counts.reduce((s, [, c]) => s + c, 0);
    const w2j = counts.filter(([k]) => k.startsWith("wasm→js")).reduce((s, [, c]) => s + c, 0);
    console.log(`\n${name}: status ${status}, ${total} crossings (${w2j} wasm→js, ${total - w2j} js→wasm)`);
    for (const [k, c] of counts.slice(0, top)) console.log(`  ${String(c).padStart(4)}  ${k}`);
  }
} finally { wd.kill("SIGTERM"); }

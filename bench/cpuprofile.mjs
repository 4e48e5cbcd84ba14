// Samples a V8 CPU profile of one worker under wrk load through workerd's inspector and prints
// where its isolate's time goes (self time by function; wasm functions show as wasm-function[N]).
// Start workerd with `--inspector-addr=127.0.0.1:9229` on bench/out/config.capnp first.
//   node --experimental-websocket bench/cpuprofile.mjs <worker> <port> <path> <req> [secs] [top]
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";

const [worker, port, path, req, secs = "4", top = "25"] = process.argv.slice(2);
const out = resolve(new URL("out", import.meta.url).pathname);
const ws = new WebSocket(`ws://127.0.0.1:9229/${worker}`);
let id = 0; const pending = new Map();
ws.onmessage = (m) => { const d = JSON.parse(m.data); if (d.id && pending.has(d.id)) { pending.get(d.id)(d.result); pending.delete(d.id); } };
const call = (method, params = {}) => new Promise((r) => { pending.set(++id, r); ws.send(JSON.stringify({ id, method, params })); });
await new Promise((r) => (ws.onopen = r));
await call("Profiler.enable");
await call("Profiler.setSamplingInterval", { interval: 100 });
await call("Profiler.start");
execFileSync("wrk", ["-t1", "-c8", `-d${secs}s`, "-s", `${out}/../req.lua`, `http://127.0.0.1:${port}${path}`],
  { env: { ...process.env, BENCH_REQ_DIR: `${out}/req`, BENCH_REQ: req }, stdio: "ignore" });
const { profile } = await call("Profiler.stop");
ws.close();
const dt = profile.timeDeltas.reduce((a, b) => a + b, 0);
const self = new Map();
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const counts = new Map();
for (const s of profile.samples) counts.set(s, (counts.get(s) || 0) + 1);
const total = profile.samples.length;
for (const [nid, c] of counts) {
  const f = byId.get(nid).callFrame;
  const k = `${f.functionName || "(anonymous)"} ${f.url ? f.url.split("/").pop() + ":" + f.lineNumber : ""}`.trim();
  self.set(k, (self.get(k) || 0) + c);
}
// Inclusive time: a node's samples plus its descendants', counted once per name per stack.
const incl = new Map();
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id);
const name = (n) => { const f = n.callFrame; return `${f.functionName || "(anonymous)"} ${f.url ? f.url.split("/").pop() + ":" + f.lineNumber + ":" + f.columnNumber : ""}`.trim(); };
for (const [nid, c] of counts) {
  const seen = new Set();
  for (let x = nid; x !== undefined; x = parent.get(x)) { const k = name(byId.get(x)); if (!seen.has(k)) { seen.add(k); incl.set(k, (incl.get(k) || 0) + c); } }
}
const rows = [...self].sort((a, b) => b[1] - a[1]);
const wasm = rows.filter(([k]) => k.startsWith("$") || k.includes("wasm-function")).reduce((s, [, c]) => s + c, 0);
const idle = rows.filter(([k]) => k === "(idle)").reduce((s, [, c]) => s + c, 0);
console.log(`${worker}: ${total} samples over ${(dt / 1e6).toFixed(1)} s; idle ${(100 * idle / total).toFixed(0)}%, wasm ${(100 * wasm / total).toFixed(0)}%`);
for (const [k, c] of rows.slice(0, +top)) console.log(`  ${(100 * c / total).toFixed(1).padStart(5)}%  ${k}`);
console.log("inclusive:");
for (const [k, c] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, +top)) console.log(`  ${(100 * c / total).toFixed(1).padStart(5)}%  ${k}`);

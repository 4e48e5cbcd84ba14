// Where a fresh isolate's first request spends its time. Starts workerd N times on a config
// (with the inspector on), profiles the first request of service `main` only (V8 sampling CPU
// profile, 50 µs; SERVICE=<name> to pick another service than `main`), and prints the first request's latency and the functions with the most
// samples, summed over the runs. Compare with a trivial worker on the same config shape.
//   node --experimental-websocket bench/experiments/first-request.mjs <workerd> <config.capnp> <port> <path> <headers-file> [runs] [top]
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import http from "node:http";

const [workerd, config, port, path, headersFile, runs = "3", top = "30"] = process.argv.slice(2);
const headers = {};
for (const l of readFileSync(headersFile, "utf8").split("\n")) {
  const i = l.indexOf(":"); if (i > 0) headers[l.slice(0, i)] = l.slice(i + 1).trim();
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ns = () => process.hrtime.bigint();
const connects = (p) => new Promise((res) => {
  const s = net.connect(p, "127.0.0.1", () => { s.destroy(); res(true); });
  s.on("error", () => res(false));
});
const get = () => new Promise((res, rej) => {
  const t0 = ns();
  const r = http.get({ host: "127.0.0.1", port: +port, path, headers, agent: false }, (resp) => {
    resp.resume(); resp.on("end", () => res({ status: resp.statusCode, ms: Number(ns() - t0) / 1e6 }));
  });
  r.on("error", rej);
});

const self = new Map(), incl = new Map();
const firsts = [], seconds = [];
let samples = 0, status;
for (let i = 0; i < +runs; i++) {
  const p = spawn(workerd, ["serve", config, "--inspector-addr=127.0.0.1:9229"], { stdio: "ignore" });
  try {
    const t0 = ns();
    while (!(await connects(+port)) || !(await connects(9229))) {
      if (Number(ns() - t0) > 30e9) throw new Error("workerd did not start within 30 s");
      await sleep(2);
    }
    const ws = new WebSocket(`ws://127.0.0.1:9229/${process.env.SERVICE || "main"}`);
    let id = 0; const pending = new Map();
    ws.onmessage = (m) => { const d = JSON.parse(m.data); if (d.id && pending.has(d.id)) { pending.get(d.id)(d.result); pending.delete(d.id); } };
    const call = (method, params = {}) => new Promise((r) => { pending.set(++id, r); ws.send(JSON.stringify({ id, method, params })); });
    await new Promise((r) => (ws.onopen = r));
    await call("Profiler.enable");
    await call("Profiler.setSamplingInterval", { interval: 50 });
    await call("Profiler.start");
    const f = await get(); firsts.push(f.ms); status = f.status;
    await sleep(20);
    const { profile } = await call("Profiler.stop");
    seconds.push((await get()).ms);
    ws.close();
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map();
    for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id);
    const name = (n) => { const fr = n.callFrame; return `${fr.functionName || "(anonymous)"} ${fr.url ? fr.url.split("/").pop() + ":" + fr.lineNumber : ""}`.trim(); };
    for (const s of profile.samples) {
      if (name(byId.get(s)) === "(idle)") continue;
      samples++;
      const k = name(byId.get(s));
      self.set(k, (self.get(k) || 0) + 1);
      const seen = new Set();
      for (let x = s; x !== undefined; x = parent.get(x)) { const n = name(byId.get(x)); if (!seen.has(n)) { seen.add(n); incl.set(n, (incl.get(n) || 0) + 1); } }
    }
  } finally {
    p.kill("SIGTERM");
    await new Promise((r) => p.on("exit", r));
  }
}
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
console.log(`first request: status ${status}, median ${med(firsts).toFixed(1)} ms (${firsts.map((x) => x.toFixed(1)).join(", ")}); second ${med(seconds).toFixed(1)} ms`);
console.log(`non-idle samples in the isolate per run: ${(samples / runs).toFixed(0)} × 50 µs ≈ ${(samples / runs * 0.05).toFixed(1)} ms`);
console.log("self:");
for (const [k, c] of [...self].sort((a, b) => b[1] - a[1]).slice(0, +top)) console.log(`  ${(c / runs * 0.05).toFixed(2).padStart(6)} ms  ${k}`);
console.log("inclusive:");
for (const [k, c] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, +top)) console.log(`  ${(c / runs * 0.05).toFixed(2).padStart(6)} ms  ${k}`);

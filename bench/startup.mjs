// Start-up cost: start workerd fresh N times on a config, measure process start → socket
// accepting, then the first request's latency (fresh isolate: config parse, key import, first
// validation) and a warm request's latency for comparison. Prints one JSON line.
//   node bench/startup.mjs <workerd> <config.capnp> <port> <path> <headers-file> <runs>
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import http from "node:http";

const [workerd, config, port, path, headersFile, runs = "7"] = process.argv.slice(2);
const headers = {};
for (const l of readFileSync(headersFile, "utf8").split("\n")) {
  const i = l.indexOf(":"); if (i > 0) headers[l.slice(0, i)] = l.slice(i + 1).trim();
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ns = () => process.hrtime.bigint();
const tryConnect = () => new Promise((res) => {
  const s = net.connect(+port, "127.0.0.1", () => { s.destroy(); res(true); });
  s.on("error", () => res(false));
});
const get = () => new Promise((res, rej) => {
  const t0 = ns();
  const r = http.get({ host: "127.0.0.1", port: +port, path, headers, agent: false }, (resp) => {
    resp.resume(); resp.on("end", () => res({ status: resp.statusCode, ms: Number(ns() - t0) / 1e6 }));
  });
  r.on("error", rej);
});
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };

const ready = [], first = [], warm = [];
let status;
for (let i = 0; i < +runs; i++) {
  const t0 = ns();
  const p = spawn(workerd, ["serve", config], { stdio: "ignore" });
  try {
    while (!(await tryConnect())) {
      if (Number(ns() - t0) > 30e9) throw new Error("workerd did not start within 30 s");
      await sleep(2);
    }
    ready.push(Number(ns() - t0) / 1e6);
    const f = await get(); first.push(f.ms); status = f.status;
    const w = []; for (let j = 0; j < 5; j++) w.push((await get()).ms);
    warm.push(median(w));
  } finally {
    p.kill("SIGTERM");
    await new Promise((r) => p.on("exit", r));
  }
}
console.log(JSON.stringify({ runs: +runs, status, ready_ms: median(ready), first_ms: median(first), warm_ms: median(warm) }));

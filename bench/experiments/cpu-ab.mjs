// A/B of two builds of the edge by CPU time per request: each build runs in its own workerd
// process (the bench config, build A on the usual ports, build B on ports + 1000, each with its
// own origin stub), wrk drives them in turns (order alternating per round), and each run records
// its process's CPU time (utime + stime from /proc) per request served. CPU per request moves much
// less than req/s on these shared cores (the slot bias that glue-ab.mjs cancels by swapping does
// not arise: each build has a process to itself). Needs bench/out from a bench/run.sh run.
//   node bench/experiments/cpu-ab.mjs <dirA> <dirB> <worker> <path> <req> [rounds] [secs]
// <dir>: a build directory (index.js + index_bg.wasm), e.g. build/ and a copy made before a change;
// <worker>: edge (decision cache on) or edgev; <req>: a request file name in bench/out/req.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { relative, resolve } from "node:path";

const root = resolve(new URL("../..", import.meta.url).pathname);
const out = `${root}/bench/out`;
const [dirA, dirB, worker, path, req, rounds = "6", secs = "4"] = process.argv.slice(2);
if (!req) throw new Error("usage: cpu-ab.mjs <dirA> <dirB> <edge|edgev> <path> <req> [rounds] [secs]");
const ports = JSON.parse(readFileSync(`${out}/ports.json`, "utf8"));
if (!(worker in ports)) throw new Error(`unknown worker ${worker}; one of ${Object.keys(ports)}`);
const ticksPerSec = Number(execFileSync("getconf", ["CLK_TCK"]).toString());
const base = readFileSync(`${out}/config.capnp`, "utf8");

function start(name, dir, shift) {
  const d = `${out}/cpu-ab/${name}`;
  mkdirSync(d, { recursive: true });
  // Paths in the config are relative to bench/out; this one lives two levels down.
  // (capnp embeds take relative paths only.)
  let cfg = base.replace(/embed "(?!\/)/g, 'embed "../../');
  cfg = cfg.replaceAll('embed "../../../../build/index', `embed "${relative(d, resolve(dir))}/index`);
  cfg = cfg.replace(/127\.0\.0\.1:(\d+)/g, (_, p) => `127.0.0.1:${Number(p) + shift}`);
  writeFileSync(`${d}/config.capnp`, cfg);
  const wd = spawn(`${root}/node_modules/.bin/workerd`, ["serve", `${d}/config.capnp`], { stdio: ["ignore", "ignore", "ignore"] });
  return { name, wd, port: ports[worker] + shift };
}
const up = (port) => new Promise((r) => { const s = net.connect(port, "127.0.0.1", () => { s.destroy(); r(true); }); s.on("error", () => r(false)); });
const cpu = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" "); return (+f[11] + +f[12]) / ticksPerSec; };
function run(side) {
  const before = cpu(side.wd.pid);
  const o = execFileSync("wrk", ["-t1", "-c8", `-d${secs}s`, "-s", `${root}/bench/req.lua`, `http://127.0.0.1:${side.port}${path}`],
    { env: { ...process.env, BENCH_REQ_DIR: `${out}/req`, BENCH_REQ: req } }).toString();
  const j = JSON.parse(o.split("BENCHJSON ")[1]);
  // A rare 503 (workerd's loopback now and then loses a pooled connection) is tolerated.
  // DENIALS=1: the scenario is meant to be refused (e.g. the 429 row), so non-2xx is the point.
  if (!process.env.DENIALS && j.non2xx > j.requests / 100) throw new Error(`${side.name}: ${j.non2xx} of ${j.requests} responses were not 2xx (stale bench/out? re-run bench/run.sh)`);
  return { rps: j.rps, cpuUs: ((cpu(side.wd.pid) - before) * 1e6) / Math.max(1, j.requests) };
}
const median = (xs) => [...xs].sort((x, y) => x - y)[xs.length >> 1];

const A = start("a", dirA, 0), B = start("b", dirB, 1000);
try {
  for (const s of [A, B]) for (let i = 0; !(await up(s.port)); i++) {
    if (i > 500) throw new Error(`workerd ${s.name} did not start`);
    await new Promise((r) => setTimeout(r, 10));
  }
  run(A); run(B); // warm both
  const ratios = [], cpuA = [], cpuB = [];
  for (let r = 0; r < +rounds; r++) {
    const [a, b] = r % 2 ? (() => { const b = run(B); return [run(A), b]; })() : [run(A), run(B)];
    cpuA.push(a.cpuUs); cpuB.push(b.cpuUs); ratios.push(b.cpuUs / a.cpuUs);
    console.log(`round ${r + 1}: A ${a.cpuUs.toFixed(0)} µs/req (${a.rps.toFixed(0)} req/s), B ${b.cpuUs.toFixed(0)} µs/req ` +
      `(${b.rps.toFixed(0)} req/s), B/A CPU ${(b.cpuUs / a.cpuUs).toFixed(3)}`);
  }
  console.log(`CPU per request: A ${median(cpuA).toFixed(0)} µs, B ${median(cpuB).toFixed(0)} µs (medians); ` +
    `B/A median of per-round ratios ${median(ratios).toFixed(3)} (range ${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)}, ` +
    `${ratios.length} rounds; ${worker} ${path} ${req})`);
} finally {
  for (const s of [A, B]) s.wd.kill("SIGTERM");
}

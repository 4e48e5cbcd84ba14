// A/B of a JS-side change to our Worker without rebuilding: runs the built edge (A) and a copy
// of it whose glue (build/index.js) is patched (B) in one workerd, and compares req/s with
// interleaved wrk rounds. Needs bench/out from a bench/run.sh run.
//   node bench/experiments/glue-ab.mjs <patch> <path> <req> [rounds] [secs]
// patches: nosignal (no origin timeout), noplan (edge_plan called once, its plan reused), nodecorate (response returned as fetched), nolog (console.log from wasm becomes a no-op); plainexport (the default export is a
// plain `{ fetch }` object calling the wasm entry directly, instead of workers-rs's Proxy-wrapped
// WorkerEntrypoint class that is constructed and re-wrapped on every request);
// build=<dir>: B is another build (<dir>/index.js + index_bg.wasm, e.g. a copy of build/ made
// before a change), A the current build/ — two builds of the edge under load, side by side.
// BASE=edge runs both with the `edge` worker's bindings (decision cache on) instead of `edgev`'s.
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { resolve } from "node:path";

const root = resolve(new URL("../..", import.meta.url).pathname);
const out = `${root}/bench/out`, dir = `${out}/exp`;
const [patch, path, req, rounds = "3", secs = "4"] = process.argv.slice(2);
const PATCHES = {
  plainexport: (g) => {
    const m = g.match(/function (\w+)\((\w),(\w),(\w)\)\{let \w;s\(\);try\{\w=_\.fetch\(/);
    if (!m) return g;
    return g.replace(/(\w+) as default\}/, "__plain as default}") + `\nvar __plain={fetch(r,e,c){return ${m[1]}(r,e,c)}};`;
  },
  nosignal: (g) => g.replace(/,signal:AbortSignal\.timeout\(\w\)/, ""),
  // The wasm plan call (edge_plan) made once: every later request reuses the first forward plan
  // as is (same request id and envelope; the origin stub checks neither). What the plan step costs.
  noplan: (g) => g.replace(/(\w)=(\w)\(!0\);switch\(\1\[0\]\[0\]==="P"&&\(await (\w+)\(\),\1=\2\(!1\)\),/,
    '$1=globalThis.__p?globalThis.__p.slice():$2(!0);switch($1[0][0]==="P"&&(await $3(),$1=$2(!1)),' +
    'globalThis.__p||$1[0][0]!=="F"||(globalThis.__p=$1.slice(),globalThis.__p[0]="F0"),'),
  nodecorate: (g) => g.replace(/(function \w+\((\w),\w,\w\)\{)(let \w=\w+\(\w\);if\(!\w\.length\)return \2;let \w=new Response)/, "$1return $2;$3"),
  nolog: (g) => g.replace(/(__wbg_log_[0-9a-f]+:function\((\w)\))\{console\.log\(\2\)\}/, "$1{}"),
};
const other = patch.startsWith("build=") ? resolve(patch.slice(6)) : null;
if (!other && !PATCHES[patch]) throw new Error(`unknown patch ${patch}; one of ${Object.keys(PATCHES)}, build=<dir>`);
mkdirSync(`${dir}/b`, { recursive: true });
const glue = readFileSync(`${other ?? `${root}/build`}/index.js`, "utf8");
const patched = other ? glue : PATCHES[patch](glue);
if (!other && patched === glue) throw new Error(`patch ${patch} changed nothing (glue changed?)`);
writeFileSync(`${dir}/b/index.js`, patched);
copyFileSync(`${other ?? `${root}/build`}/index_bg.wasm`, `${dir}/b/index_bg.wasm`);
const base = process.env.BASE === "edge" ? "edge" : "edgev";
const port = base === "edge" ? 18780 : 18785;
let cfg = readFileSync(`${out}/config.capnp`, "utf8").replace(/embed "(?!\/)/g, 'embed "../');
const def = cfg.slice(cfg.indexOf(`const ${base} :Workerd.Worker`),
  cfg.indexOf(base === "edge" ? "const edgev :Workerd.Worker" : "const jose :Workerd.Worker"));
cfg += def.replace(`const ${base} `, "const edgeb ").replaceAll("../../../build/index", "b/index");
cfg = cfg.replace('(name = "edgev", worker = .edgev),', '(name = "edgev", worker = .edgev),\n    (name = "edgeb", worker = .edgeb),')
  .replace(/  sockets = \[\n/, '  sockets = [\n    (name = "edgeb", address = "127.0.0.1:18798", http = (), service = "edgeb"),\n');
writeFileSync(`${dir}/config.capnp`, cfg);

const wd = spawn(`${root}/node_modules/.bin/workerd`, ["serve", `${dir}/config.capnp`], { stdio: ["ignore", "ignore", "inherit"] });
const up = () => new Promise((r) => { const s = net.connect(18798, "127.0.0.1", () => { s.destroy(); r(true); }); s.on("error", () => r(false)); });
const rps = (port) => {
  const o = execFileSync("wrk", ["-t1", "-c8", `-d${secs}s`, "-s", `${root}/bench/req.lua`, `http://127.0.0.1:${port}${path}`],
    { env: { ...process.env, BENCH_REQ_DIR: `${out}/req`, BENCH_REQ: req } }).toString();
  return JSON.parse(o.split("BENCHJSON ")[1]).rps;
};
try {
  for (let i = 0; !(await up()); i++) { if (i > 500) throw new Error("workerd did not start"); await new Promise((r) => setTimeout(r, 10)); }
  rps(port); rps(18798);
  const ratios = [];
  for (let r = 0; r < +rounds; r++) {
    let a, b;
    if (r % 2) { b = rps(18798); a = rps(port); } else { a = rps(port); b = rps(18798); }
    ratios.push(b / a);
    console.log(`round ${r + 1}: A ${a.toFixed(0)} req/s, B (${patch}) ${b.toFixed(0)} req/s, B/A ${(b / a).toFixed(2)}`);
  }
  ratios.sort((x, y) => x - y);
  console.log(`median B/A ${ratios[ratios.length >> 1].toFixed(2)} (${patch}, ${path}, ${req})`);
} finally { wd.kill("SIGTERM"); }

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
  // (esbuild emits the plan step either inside a `switch(` or as a statement; both shapes.)
  noplan: (g) => g.replace(/(\w)=(\w)\(!0\);(switch\()?\1\[0\]\[0\]==="P"&&\(await (\w+)\(\),\1=\2\(!1\)\),/,
    '$1=globalThis.__p?globalThis.__p.slice():$2(!0);$3$1[0][0]==="P"&&(await $4(),$1=$2(!1)),' +
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
// Two halves: A in the base worker's slot and B in an added one, then swapped. The slot alone
// is worth ~±9 % here (an A/A run — the same build in both slots — gave a median of 0.91), so
// only the two halves together measure the change.
const full = readFileSync(`${out}/config.capnp`, "utf8").replace(/embed "(?!\/)/g, 'embed "../');
const def = full.slice(full.indexOf(`const ${base} :Workerd.Worker`),
  full.indexOf(base === "edge" ? "const edgev :Workerd.Worker" : "const jose :Workerd.Worker"));
const A_PATH = "../../../build/index", B_PATH = "b/index";
function config(first, second) {
  let cfg = full.replace(def, def.replaceAll(A_PATH, first));
  cfg += def.replace(`const ${base} `, "const edgeb ").replaceAll(A_PATH, second);
  return cfg.replace('(name = "edgev", worker = .edgev),', '(name = "edgev", worker = .edgev),\n    (name = "edgeb", worker = .edgeb),')
    .replace(/  sockets = \[\n/, '  sockets = [\n    (name = "edgeb", address = "127.0.0.1:18798", http = (), service = "edgeb"),\n');
}

const up = () => new Promise((r) => { const s = net.connect(18798, "127.0.0.1", () => { s.destroy(); r(true); }); s.on("error", () => r(false)); });
const rps = (port) => {
  const o = execFileSync("wrk", ["-t1", "-c8", `-d${secs}s`, "-s", `${root}/bench/req.lua`, `http://127.0.0.1:${port}${path}`],
    { env: { ...process.env, BENCH_REQ_DIR: `${out}/req`, BENCH_REQ: req } }).toString();
  return JSON.parse(o.split("BENCHJSON ")[1]).rps;
};
const median = (xs) => [...xs].sort((x, y) => x - y)[xs.length >> 1];
const halves = [];
for (const swapped of [false, true]) {
  writeFileSync(`${dir}/config.capnp`, swapped ? config(B_PATH, A_PATH) : config(A_PATH, B_PATH));
  const wd = spawn(`${root}/node_modules/.bin/workerd`, ["serve", `${dir}/config.capnp`], { stdio: ["ignore", "ignore", "inherit"] });
  try {
    for (let i = 0; !(await up()); i++) { if (i > 500) throw new Error("workerd did not start"); await new Promise((r) => setTimeout(r, 10)); }
    rps(port); rps(18798);
    const [portA, portB] = swapped ? [18798, port] : [port, 18798];
    const ratios = [];
    for (let r = 0; r < Math.max(1, Math.round(+rounds / 2)); r++) {
      let a, b;
      if (r % 2) { b = rps(portB); a = rps(portA); } else { a = rps(portA); b = rps(portB); }
      ratios.push(b / a);
      console.log(`${swapped ? "swapped" : "normal "} round ${r + 1}: A ${a.toFixed(0)} req/s, B (${patch}) ${b.toFixed(0)} req/s, B/A ${(b / a).toFixed(2)}`);
    }
    halves.push(ratios);
  } finally { wd.kill("SIGTERM"); await new Promise((r) => wd.on("exit", r)); }
}
const all = halves.flat();
const geo = Math.exp(all.reduce((s, x) => s + Math.log(x), 0) / all.length);
console.log(`B/A: median ${median(all).toFixed(2)}, geometric mean ${geo.toFixed(2)} over ${all.length} rounds ` +
  `(B in the added slot ${median(halves[0]).toFixed(2)}, in the base slot ${median(halves[1]).toFixed(2)}; ${patch}, ${path}, ${req})`);

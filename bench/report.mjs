// Turns bench/out/{results,skipped}.jsonl + size/startup json into the one markdown table.
//   node bench/report.mjs <out-dir> <commit> <load description>
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";

const [out, commit, load] = process.argv.slice(2);
const lines = (f) => (existsSync(f) ? readFileSync(f, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)) : []);
const json = (f) => (existsSync(f) ? JSON.parse(readFileSync(f, "utf8")) : null);
const median = (a) => { const s = [...a].sort((x, y) => x - y), m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const ms = (us) => (us / 1000).toFixed(2);
const goals = { "HS256 + forward": 1.5, "EdDSA + forward": 1.2, "ES256 + forward": 1.2, "RS256 + forward": 1.2,
  "cached decision + forward (vs no-auth proxy)": 0.9, "Stripe webhook 1 KiB + forward": 1.2 };

const results = lines(`${out}/results.jsonl`), skipped = lines(`${out}/skipped.jsonl`);
const order = [...new Set([...results.map((r) => r.scenario)])];
const cpu = (os.cpus()[0] || {}).model || "?";
console.log(`edge-auth benchmark — ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, commit ${commit}`);
console.log(`machine: ${os.cpus().length} cores (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; load: ${load}; one workerd process\n`);
// One scenario's rounds, by side, and `better(x, c)` — how much better a side's run x is than the
// comparison's run c in the same round — per round and as the median over rounds, for ours and
// for the floor (the bound). A goal above the bound cannot be met by any Worker doing this job here.
// The tight bound likewise from `floormac` (the floor computing the MACs the job cannot skip); the
// verdict uses the tightest bound measured.
const FLOORS = ["floor", "floormac"];
// `base`: the --baseline build (another revision), measured in the same rounds; not a comparison.
const NOT_COMP = ["ours", "base", ...FLOORS];
function rows(s, better) {
  const rs = results.filter((r) => r.scenario === s);
  const ours = rs.filter((r) => r.side === "ours"), floor = rs.filter((r) => r.side === "floor");
  const floormac = rs.filter((r) => r.side === "floormac");
  const comp = rs.filter((r) => !NOT_COMP.includes(r.side));
  const perRound = (side) => side.map((o) => { const c = comp.find((x) => x.round === o.round); return c ? better(o, c) : NaN; })
    .filter((x) => Number.isFinite(x));
  const ratios = perRound(ours), bounds = perRound(floor), tights = perRound(floormac);
  const ratio = median(ratios), goal = goals[s];
  const bound = [bounds, tights].filter((b) => b.length).map(median).reduce((a, b) => Math.min(a, b), Infinity);
  const verdict = !goal ? "—" : ratio >= goal ? `≥ ${goal}× ✅` : bound < goal ? `≥ ${goal}× ❌ above the bound` : `≥ ${goal}× ❌`;
  const list = (xs) => xs.map((x) => x.toFixed(2)).join(", ");
  const cell = (xs) => (xs.length ? `${median(xs).toFixed(2)}× (${list(xs)})` : "—");
  return { ours, comp, floor, floormac, verdict, ratio: `**${ratio.toFixed(2)}×** (${list(ratios)})`, bound: cell(bounds), tight: cell(tights) };
}
console.log("| scenario | ours req/s | comparison | comp req/s | ours p50 / p99 ms | comp p50 / p99 ms | ratio (median of rounds) | floor ÷ comp: the bound | floor + MACs ÷ comp: the tight bound | goal |");
console.log("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
for (const s of order) {
  const { ours, comp, floor, floormac, verdict, ratio, bound, tight } = rows(s, (o, c) => o.rps / c.rps);
  const bad = [...ours, ...comp, ...floor, ...floormac].some((r) => r.socket_errors > 0) ? " (socket errors!)" : "";
  console.log(`| ${s} | ${median(ours.map((r) => r.rps)).toFixed(0)} | ${comp[0].side} | ${median(comp.map((r) => r.rps)).toFixed(0)} | ` +
    `${ms(median(ours.map((r) => r.p50_us)))} / ${ms(median(ours.map((r) => r.p99_us)))} | ${ms(median(comp.map((r) => r.p50_us)))} / ${ms(median(comp.map((r) => r.p99_us)))} | ` +
    `${ratio}${bad} | ${bound} | ${tight} | ${verdict} |`);
}
for (const k of skipped) console.log(`| ${k.scenario} | — | — | — | — | — | not implemented yet in the edge | — | — | ${k.why.replace(/\|/g, "/")} |`);
if (results.some((r) => r.side === "floor")) {
  console.log("\nfloor: bench/workers/floor.js, the least a Worker doing the job does here (proxy + 9 constant identity headers;" +
    " asymmetric signatures checked with WebCrypto; HS256 and webhook MACs not computed at all). Its ratio to the comparison," +
    " measured in the same rounds, bounds what any edge can reach; \"above the bound\" marks a goal no Worker doing the job meets here." +
    " floor + MACs (MACS=1): the same floor also computing, with WebCrypto, the MACs the job cannot skip — the HS256 signature," +
    " the webhook signature, the identity envelope — the tight bound.");
}

// The same rounds in workerd CPU time per request (what the platform bills; the whole process, so
// the origin stub's share is in every row). Ratio = comparison's CPU ÷ ours, so > 1 means ours is
// cheaper, as in the table above; the bound likewise from the floor.
if (results.some((r) => r.cpu_us > 0)) {
  console.log("\nworkerd CPU time per request, same rounds (µs; ratio = comparison ÷ ours, median of rounds; bound = comparison ÷ floor):\n");
  console.log("| scenario | ours µs | comp µs | floor µs | floor + MACs µs | ratio | bound | tight bound | goal |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
  for (const s of order) {
    const { ours, comp, floor, floormac, verdict, ratio, bound, tight } = rows(s, (o, c) => (o.cpu_us > 0 ? c.cpu_us / o.cpu_us : NaN));
    const us = (side) => (side.length ? median(side.map((r) => r.cpu_us)).toFixed(0) : "—");
    console.log(`| ${s} | ${us(ours)} | ${us(comp)} | ${us(floor)} | ${us(floormac)} | ${ratio} | ${bound} | ${tight} | ${verdict} |`);
  }
}

// Before → after, side by side (--baseline): each build's ratio to the comparison in the same
// round, and the direct after ÷ before in req/s and in CPU per request (before ÷ after, so > 1 is
// better for both). A change is a regression on a row when its ratio drops by more than 0.03.
if (results.some((r) => r.side === "base")) {
  console.log("\nbefore → after in the same rounds (--baseline; ratio to the comparison per round, median; after ÷ before direct):\n");
  console.log("| scenario | before: ratio | after: ratio | change | after ÷ before req/s | before ÷ after CPU µs | verdict (no row > 0.03 lower) |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | --- |");
  for (const s of order) {
    const rs = results.filter((r) => r.scenario === s);
    const side = (n) => rs.filter((r) => r.side === n);
    const comp = rs.filter((r) => !NOT_COMP.includes(r.side));
    const vsComp = (xs) => xs.map((o) => { const c = comp.find((x) => x.round === o.round); return c ? o.rps / c.rps : NaN; }).filter(Number.isFinite);
    const direct = (f) => side("ours").map((o) => { const b = side("base").find((x) => x.round === o.round); return b ? f(o, b) : NaN; }).filter(Number.isFinite);
    const before = vsComp(side("base")), after = vsComp(side("ours"));
    if (!before.length || !after.length) continue;
    const change = median(after) - median(before);
    const list = (xs) => xs.map((x) => x.toFixed(2)).join(", ");
    const rps = direct((o, b) => o.rps / b.rps), cpuR = direct((o, b) => (o.cpu_us > 0 ? b.cpu_us / o.cpu_us : NaN));
    console.log(`| ${s} | ${median(before).toFixed(2)}× (${list(before)}) | ${median(after).toFixed(2)}× (${list(after)}) | ` +
      `${change >= 0 ? "+" : "−"}${Math.abs(change).toFixed(2)} | ${median(rps).toFixed(2)} (${list(rps)}) | ` +
      `${cpuR.length ? `${median(cpuR).toFixed(2)} (${list(cpuR)})` : "—"} | ${change >= -0.03 ? "✅" : "❌"} |`);
  }
}

const size = json(`${out}/size.json`);
if (size) {
  const kb = (b) => (b / 1000).toFixed(1);
  const gz = size.js_gz + size.wasm_gz;
  console.log(`\nupload size: index.js ${kb(size.js)} KB (${kb(size.js_gz)} KB gz) + index_bg.wasm ${kb(size.wasm)} KB (${kb(size.wasm_gz)} KB gz) = ` +
    `${kb(size.js + size.wasm)} KB raw, **${kb(gz)} KB gzip** (goal ≤ 250 KB gzip ${gz <= 250e3 ? "✅" : "❌"})`);
}
const st = json(`${out}/startup-trivial.json`);
// The two workers-rs rows are the wasm floor (bench/wasm-floor/): what any Rust/wasm Worker built
// this way pays, and the least one doing our job pays — the floor under ours.
// The bare wasm floor (bench/wasm-floor-bare/) is built the way ours is since issue 23 (one
// synchronous wasm export, JS does the I/O): HS256 in wasm + forward, nothing else.
const starts = [["edge", "ours (HS256 → forward)"], ["jose", "jose (HS256 → forward)"],
  ["wasm-bare", "bare wasm floor: HS256 in wasm + forward, our shape (no workers-rs)"],
  ["wasm-hs256", "workers-rs floor: HS256 signature + forward, no JSON"], ["wasm-hello", "smallest workers-rs Worker (returns ok)"],
  ["trivial-log", "trivial JS, logs a line"], ["trivial", "trivial JS"]]
  .map(([k, label]) => [label, json(`${out}/startup-${k}.json`)]).filter(([, r]) => r);
if (st && starts.length) {
  // A fresh isolate's cost over the trivial Worker: extra start-up (compile + instantiate; never
  // counted below 0) plus the extra latency of the first request (config, code compiled on first
  // use, first validation, first log line). The HTTP round trip itself is in both.
  const cost = (r) => Math.max(0, r.ready_ms - st.ready_ms) + (r.first_ms - st.first_ms);
  console.log(`\nstart-up (median of ${st.runs} fresh workerd processes each; one Worker + the origin stub per process):\n`);
  console.log("| worker | start → listening ms | first request ms | warm request ms | fresh-isolate cost over trivial ms |");
  console.log("| --- | ---: | ---: | ---: | ---: |");
  for (const [label, r] of starts) {
    const c = cost(r);
    const verdict = label.startsWith("ours") ? ` (goal ≤ 8 ${c <= 8 ? "✅" : "❌"})` : "";
    console.log(`| ${label} | ${r.ready_ms.toFixed(1)} | ${r.first_ms.toFixed(1)} (${r.status}) | ${r.warm_ms.toFixed(1)} | **${c.toFixed(1)}**${verdict} |`);
  }
  const fs = json(`${out}/size-wasm-floor.json`);
  if (fs && starts.some(([label]) => label.includes("workers-rs"))) {
    const kb = (b) => (b / 1000).toFixed(1);
    console.log(`\nworkers-rs rows: bench/wasm-floor/ (worker 0.8.7, #[event(fetch)], var FLOOR picks the row), built like ours; ` +
      `upload index.js ${kb(fs.js)} KB + index_bg.wasm ${kb(fs.wasm)} KB = ${kb(fs.js + fs.wasm)} KB raw, ${kb(fs.js_gz + fs.wasm_gz)} KB gzip.`);
  }
}

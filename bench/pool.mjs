// Pools the rounds of several `bench/run.sh --baseline DIR` runs into one before → after table:
// every round of every run counts once, and the medians are taken over all of them. One run's three
// rounds on this 2-core machine span 0.64–1.26 on a row (docs/PERFORMANCE.md, session 16); pooling
// rounds from runs taken at different times is what issue 15's "pooled medians" asks for.
//   node bench/pool.mjs runs/J.jsonl runs/K.jsonl …   (copies of bench/out/results.jsonl)
// Per row: each build's ratio to the comparison in the same round (pooled medians, and the
// difference of the two medians as bench/report.mjs prints it for one run); the paired change —
// per round, (after − before) ÷ the comparison, the same round's comparison for both, so the
// comparison's own swing between rounds cancels — its median and how many rounds went up; and the
// direct after ÷ before in req/s and before ÷ after in CPU µs per request (> 1 is better). The
// verdict (issue 15's bar: no row more than 0.03 lower) reads the paired change.
import { readFileSync } from "node:fs";

const files = process.argv.slice(2);
if (!files.length) {
  console.error("usage: node bench/pool.mjs <results.jsonl> [more results.jsonl …]");
  process.exit(2);
}
const median = (a) => { const s = [...a].sort((x, y) => x - y), m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const quartiles = (a) => { const s = [...a].sort((x, y) => x - y); return [s[Math.floor((s.length - 1) / 4)], s[Math.ceil(3 * (s.length - 1) / 4)]]; };
// A round is (file, round number): the sides of one round ran back to back.
const results = files.flatMap((f, i) => readFileSync(f, "utf8").split("\n").filter(Boolean)
  .map((l) => ({ ...JSON.parse(l), run: i })));
const NOT_COMP = ["ours", "base", "floor", "floormac"];
const order = [...new Set(results.map((r) => r.scenario))];
const rounds = new Set(results.map((r) => `${r.run}/${r.round}`)).size;
console.log(`pooled: ${files.length} runs, ${rounds} rounds (${files.join(", ")})\n`);
console.log("| scenario | rounds | before ÷ comparison | after ÷ comparison | difference of medians | paired change (rounds up) | after ÷ before req/s (quartiles; rounds better) | before ÷ after CPU µs | verdict (paired change ≥ −0.03) |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |");
// A scenario's rounds as {o: ours, b: base, c: the comparison (may be missing)}, each with its run.
function pairsOf(s) {
  const rs = results.filter((r) => r.scenario === s);
  const at = (side, r) => rs.find((x) => x.side === side && x.run === r.run && x.round === r.round);
  const comp = (r) => rs.find((x) => !NOT_COMP.includes(x.side) && x.run === r.run && x.round === r.round);
  return rs.filter((r) => r.side === "ours").map((o) => ({ o, b: at("base", o), c: comp(o) })).filter((p) => p.b);
}
for (const s of order) {
  const pairs = pairsOf(s);
  if (!pairs.length) continue;
  const withComp = pairs.filter((p) => p.c);
  const before = withComp.map((p) => p.b.rps / p.c.rps), after = withComp.map((p) => p.o.rps / p.c.rps);
  const rps = pairs.map((p) => p.o.rps / p.b.rps);
  const cpu = pairs.filter((p) => p.o.cpu_us > 0 && p.b.cpu_us > 0).map((p) => p.b.cpu_us / p.o.cpu_us);
  const change = before.length ? median(after) - median(before) : NaN;
  const paired = withComp.map((p) => (p.o.rps - p.b.rps) / p.c.rps);
  const pairedChange = paired.length ? median(paired) : NaN;
  const [q1, q3] = quartiles(rps);
  const better = rps.filter((x) => x > 1).length;
  const f = (x) => x.toFixed(2);
  const signed = (x) => `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(3)}`;
  const verdict = Number.isFinite(pairedChange) ? (pairedChange >= -0.03 ? "✅" : "❌") : "—";
  console.log(`| ${s} | ${pairs.length} | ${before.length ? `${f(median(before))}×` : "—"} | ${after.length ? `${f(median(after))}×` : "—"} | ` +
    `${Number.isFinite(change) ? signed(change) : "—"} | ` +
    `${Number.isFinite(pairedChange) ? `**${signed(pairedChange)}** (${paired.filter((x) => x > 0).length} of ${paired.length})` : "—"} | ` +
    `**${f(median(rps))}** (${f(q1)}–${f(q3)}; ${better} of ${rps.length}) | ${cpu.length ? f(median(cpu)) : "—"} | ${verdict} |`);
}

// The same paired change, run by run (each run's median over its own rounds). One workerd process
// serves a whole run, so a run can lean one way on a row in all its rounds (session 17: run K read
// EdDSA 0.89 in all three); this table shows how far the runs disagree, which the pooled median
// above does not.
if (files.length > 1) {
  const names = files.map((f) => f.replace(/^.*\//, "").replace(/\.jsonl$/, ""));
  console.log(`\nPaired change per run (median of the run's rounds):\n`);
  console.log(`| scenario | ${names.join(" | ")} | runs up |`);
  console.log(`| --- | ${names.map(() => "---:").join(" | ")} | ---: |`);
  for (const s of order) {
    const pairs = pairsOf(s).filter((p) => p.c);
    const perRun = files.map((_, run) => {
      const ch = pairs.filter((p) => p.o.run === run).map((p) => (p.o.rps - p.b.rps) / p.c.rps);
      return ch.length ? median(ch) : NaN;
    });
    if (perRun.every((x) => !Number.isFinite(x))) continue;
    const cell = (x) => (Number.isFinite(x) ? `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(3)}` : "—");
    console.log(`| ${s} | ${perRun.map(cell).join(" | ")} | ${perRun.filter((x) => x > 0).length} of ${perRun.filter(Number.isFinite).length} |`);
  }
}

#!/usr/bin/env bash
# Fresh-isolate cost of several builds of ours, interleaved in one run (issue 23's A/B): every round
# starts one fresh workerd process per build, plus the trivial JS Worker and the `jose` Worker, in an
# order that rotates per round; each serves its first request (ours and jose: HS256 token →
# /api/items, so ours runs the fresh isolate's first revocation sync; trivial: /) and 5 warm ones
# (bench/startup.mjs, runs=1 per process). Prints, per Worker: the medians (start → listening, first
# request) and the fresh-isolate cost over the trivial Worker computed from them as
# bench/report.mjs does, then the same cost paired per round (quartiles), and each build's per-round
# difference to the first build.
#   bash bench/experiments/startup-ab.sh [--rounds N] [--floor DIR] [--configs-only] LABEL=BUILD_DIR [LABEL=BUILD_DIR ...]
# --configs-only: write the configs and stop (bench/icount/startup.sh counts instructions on them).
# --floor DIR: also the bare wasm floor (bench/wasm-floor-bare/ built into DIR by
# `PACKAGE=edge-auth-wasm-floor-bare ENTRY=bench/wasm-floor-bare/entry.js OUT_DIR=DIR scripts/build-worker.sh`):
# HS256 signature in wasm + forward, nothing else — the least a Worker built like ours starts with.
# BUILD_DIR holds index.js + index_bg.wasm (scripts/build-worker.sh with OUT_DIR). Generates bench/out/
# (keys, tokens, configs: bench/gen.mjs) unless NO_GEN=1; per-build configs are
# bench/out/startup-<LABEL>.capnp, so `WORKER=<LABEL> bash bench/experiments/first-request-code.sh`
# works on them afterwards. BENCH_PORTS_JSON moves the ports (as for bench/gen.mjs).
source "$(dirname "$0")/../../scripts/lib.sh"

ROUNDS=11
FLOOR_DIR=""
CONFIGS_ONLY=0
BUILDS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift ;;
    --floor) FLOOR_DIR="$(realpath "$2")"; shift ;;
    --configs-only) CONFIGS_ONLY=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *=*) BUILDS+=("$1") ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  shift
done
[ "${#BUILDS[@]}" -gt 0 ] || die "name at least one LABEL=BUILD_DIR"
OUT="$ROOT/bench/out"
WORKERD="$ROOT/node_modules/@cloudflare/workerd-linux-64/bin/workerd"
ESBUILD="$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild"
first_dir="${BUILDS[0]#*=}"

if [ "${NO_GEN:-0}" != 1 ]; then
  step "Generating bench/out (keys, tokens, configs) with ${BUILDS[0]%%=*} as the edge build"
  rm -rf "$OUT"; mkdir -p "$OUT"
  for w in jose origin trivial trivial-log; do
    "$ESBUILD" "bench/workers/$w.js" --bundle --format=esm --platform=neutral --log-level=warning \
      --outfile="$OUT/$w-worker.js"
  done
  BARE_FLOOR="$FLOOR_DIR" node bench/gen.mjs "$OUT" "$(realpath "$first_dir")" >/dev/null
fi
[ -z "$FLOOR_DIR" ] || [ -f "$OUT/startup-wasm-bare.capnp" ] ||
  die "--floor: $OUT/startup-wasm-bare.capnp missing (run without NO_GEN=1 once with --floor)"
# One start-up config per build: the edge's, with the build's files in place of the first build's.
LABELS=()
for b in "${BUILDS[@]}"; do
  label="${b%%=*}" dir="$(realpath "${b#*=}")"
  [ -f "$dir/index.js" ] && [ -f "$dir/index_bg.wasm" ] || die "$b: no index.js + index_bg.wasm there"
  python3 - "$OUT" "$(realpath "$first_dir")" "$dir" "$OUT/startup-edge.capnp" "$OUT/startup-$label.capnp" <<'PY'
import os, sys
out, first, this, src, dst = sys.argv[1:]
cfg = open(src).read()
for f in ("index.js", "index_bg.wasm"):
    old = '"%s"' % os.path.relpath(os.path.join(first, f), out)
    assert old in cfg, old
    cfg = cfg.replace(old, '"%s"' % os.path.relpath(os.path.join(this, f), out))
open(dst, "w").write(cfg)
PY
  LABELS+=("$label")
done
[ "$CONFIGS_ONLY" = 0 ] || { note "configs written: $OUT/startup-{${LABELS[*]// /,}}.capnp"; exit 0; }
PORT="$(node -e 'process.stdout.write(String(require(process.argv[1]).edge))' "$OUT/ports.json")"
WORKERS=("${LABELS[@]}" jose trivial)
[ -z "$FLOOR_DIR" ] || WORKERS+=(wasm-bare)
RESULTS="$OUT/startup-ab.jsonl"
: >"$RESULTS"

step "Start-up: $ROUNDS rounds × (${WORKERS[*]}), one fresh workerd each, order rotating per round"
n="${#WORKERS[@]}"
for r in $(seq 1 "$ROUNDS"); do
  line="round $r:"
  for i in $(seq 0 $((n - 1))); do
    w="${WORKERS[$(((i + r) % n))]}"
    case "$w" in trivial) path=/ req=plain ;; *) path=/api/items req=hs256 ;; esac
    j="$(node bench/startup.mjs "$WORKERD" "$OUT/startup-$w.capnp" "$PORT" "$path" "$OUT/req/$req.headers" 1)"
    node -e 'const [w,r,j]=process.argv.slice(1);console.log(JSON.stringify({worker:w,round:+r,...JSON.parse(j)}))' "$w" "$r" "$j" >>"$RESULTS"
    line+=" $w $(node -e 'const j=JSON.parse(process.argv[1]);process.stdout.write(`${j.ready_ms.toFixed(1)}+${j.first_ms.toFixed(1)}(${j.status})`)' "$j")"
  done
  note "$line"
done

step "Results ($RESULTS)"
node - "$RESULTS" "${LABELS[@]}" <<'JS'
const fs = require("node:fs");
const [file, ...labels] = process.argv.slice(2);
const rows = fs.readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l));
const q = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const med = (a) => q(a, 0.5);
const of = (w) => rows.filter((r) => r.worker === w);
const t = of("trivial");
const tr = Object.fromEntries(t.map((r) => [r.round, r]));
const cost = (ready, first, tReady, tFirst) => Math.max(0, ready - tReady) + (first - tFirst);
const perRound = (w) => of(w).map((r) => cost(r.ready_ms, r.first_ms, tr[r.round].ready_ms, tr[r.round].first_ms));
console.log(`| worker | start → listening ms | first request ms | warm ms | cost over trivial (from medians) ms | cost paired per round: median (quartiles) ms |`);
console.log(`| --- | ---: | ---: | ---: | ---: | ---: |`);
for (const w of [...labels, "jose", ...(of("wasm-bare").length ? ["wasm-bare"] : []), "trivial"]) {
  const r = of(w);
  const statuses = [...new Set(r.map((x) => x.status))].join("/");
  const c = cost(med(r.map((x) => x.ready_ms)), med(r.map((x) => x.first_ms)), med(t.map((x) => x.ready_ms)), med(t.map((x) => x.first_ms)));
  const pr = perRound(w);
  console.log(`| ${w} | ${med(r.map((x) => x.ready_ms)).toFixed(1)} | ${med(r.map((x) => x.first_ms)).toFixed(1)} (${statuses}) | ${med(r.map((x) => x.warm_ms)).toFixed(1)} | ` +
    `${w === "trivial" ? "—" : c.toFixed(1)} | ${w === "trivial" ? "—" : `${med(pr).toFixed(1)} (${q(pr, 0.25).toFixed(1)}–${q(pr, 0.75).toFixed(1)})`} |`);
}
const base = of(labels[0]);
const byRound = (w) => Object.fromEntries(of(w).map((r) => [r.round, r]));
for (const w of labels.slice(1)) {
  const b = byRound(w);
  const d = base.map((a) => ({ ready: b[a.round].ready_ms - a.ready_ms, first: b[a.round].first_ms - a.first_ms }));
  const sum = d.map((x) => x.ready + x.first);
  const fmt = (a) => `${med(a).toFixed(1)} (quartiles ${q(a, 0.25).toFixed(1)} – ${q(a, 0.75).toFixed(1)}; ${a.filter((x) => x < 0).length}/${a.length} rounds below 0)`;
  console.log(`\n${w} − ${labels[0]}, per round: start → listening ${fmt(d.map((x) => x.ready))}; first request ${fmt(d.map((x) => x.first))}; both ${fmt(sum)} ms`);
}
JS

#!/usr/bin/env bash
# Instructions a fresh isolate costs: a deterministic companion to bench/experiments/startup-ab.sh,
# whose wall-clock medians move by ±3 ms between runs on a shared machine (issue 23's A/Bs).
#
#   bash bench/icount/startup.sh [--floor DIR] [--runs N] [--keep] LABEL=BUILD_DIR [LABEL=BUILD_DIR ...]
#
# For each build (and `jose`, the bare wasm floor with --floor, and the trivial JS Worker), N fresh
# workerd processes run under valgrind's callgrind with V8 --single-threaded (compilation on the
# isolate's thread, as it is for lazily compiled wasm; no background compile or GC threads to move
# counts). Counted: process start → the socket accepts (polled by TCP connect only, no request),
# then the first request (ours and jose: HS256 token → /api/items, forwarded to the origin stub;
# trivial: /). Liftoff stays on: this is the fresh isolate as it runs, not a steady state.
# Prints millions of instructions per phase and the fresh-isolate cost over the trivial Worker
# (start-up difference + first-request difference, as bench/report.mjs computes it in ms).
# --keep: keep each process's two callgrind dumps (bench/out-icount-startup/cg-<worker>-<run>.out.1 and
# .2, start-up and first request) for `python3 bench/icount/phases.py <dump> <dump>`, which says by
# layer and function where one build's phase differs from another's (e.g. ours against trivial).
# Needs valgrind (installed from Debian's packages when missing). ~20 s per process.
source "$(dirname "$0")/../../scripts/lib.sh"

RUNS=3
KEEP=0
FLOOR=()
BUILDS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift ;;
    --floor) FLOOR=(--floor "$2"); shift ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *=*) BUILDS+=("$1") ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  shift
done
[ "${#BUILDS[@]}" -gt 0 ] || die "name at least one LABEL=BUILD_DIR"
if ! command -v valgrind >/dev/null; then
  step "icount: installing valgrind from Debian's packages"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null) || die "could not install valgrind"
fi
WORKERD="$ROOT/node_modules/@cloudflare/workerd-linux-64/bin/workerd"
[ -x "$WORKERD" ] || die "workerd not found: run npm ci (or scripts/setup.sh)"

bash bench/experiments/startup-ab.sh --configs-only "${FLOOR[@]}" "${BUILDS[@]}" >/dev/null
OUT="$ROOT/bench/out"
WORK="$ROOT/bench/out-icount-startup"; rm -rf "$WORK"; mkdir -p "$WORK"
PORT="$(node -e 'process.stdout.write(String(require(process.argv[1]).edge))' "$OUT/ports.json")"
WORKERS=()
for b in "${BUILDS[@]}"; do WORKERS+=("${b%%=*}"); done
WORKERS+=(jose); [ "${#FLOOR[@]}" = 0 ] || WORKERS+=(wasm-bare); WORKERS+=(trivial)

total() { grep -h -m1 '^summary:\|^totals:' "$1" | awk '{print $2}'; }

measure() { # worker run → one JSON line
  local w="$1" run="$2" cfg="$OUT/icount-startup-$1.capnp" cg="$WORK/cg-$1-$2.out" log="$WORK/$1-$2.log" path req vp status
  sed 's#^const config :Workerd.Config = (#const config :Workerd.Config = (\n  v8Flags = ["--single-threaded"],#' \
    "$OUT/startup-$w.capnp" >"$cfg"
  case "$w" in trivial) path=/ req=plain ;; *) path=/api/items req=hs256 ;; esac
  valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file="$cg" "$WORKERD" serve "$cfg" >"$log" 2>&1 &
  vp=$!
  for _ in $(seq 1 600); do
    kill -0 "$vp" 2>/dev/null || die "workerd under valgrind exited (see $log)"
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.2
  done
  callgrind_control -d "$vp" >/dev/null 2>&1 # dump 1: start → accepting (counters zeroed after)
  local hdr=(); while IFS= read -r l; do [ -n "$l" ] && hdr+=(-H "$l"); done <"$OUT/req/$req.headers"
  status="$(curl -s -o /dev/null -w '%{http_code}' --max-time 120 "${hdr[@]}" "http://127.0.0.1:$PORT$path")"
  sleep 1 # background work the first request started (waitUntil) finishes inside this phase
  callgrind_control -d "$vp" >/dev/null 2>&1 # dump 2: the first request
  kill "$vp" 2>/dev/null; wait "$vp" 2>/dev/null || true
  local ready first
  ready="$(total "$cg.1")"; first="$(total "$cg.2")"
  [ "$KEEP" = 1 ] || rm -f "$cg" "$cg".*
  printf '{"worker":"%s","run":%d,"ready":%d,"first":%d,"status":%s}\n' "$w" "$run" "$ready" "$first" "$status"
}

step "icount: fresh isolates, $RUNS × (${WORKERS[*]}) under callgrind (~20 s each)"
for r in $(seq 1 "$RUNS"); do
  for w in "${WORKERS[@]}"; do
    line="$(measure "$w" "$r")"
    echo "$line" >>"$WORK/results.jsonl"
    note "$line"
  done
done

step "icount: millions of instructions, median of $RUNS fresh processes"
node - "$WORK/results.jsonl" "${WORKERS[@]}" <<'JS' | tee "$WORK/table.md"
const fs = require("node:fs");
const [file, ...workers] = process.argv.slice(2);
const rows = fs.readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l));
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const m = (w, k) => med(rows.filter((r) => r.worker === w).map((r) => r[k]));
const spread = (w, k) => { const a = rows.filter((r) => r.worker === w).map((r) => r[k]); return (Math.max(...a) - Math.min(...a)) / 1e6; };
const M = (x) => (x / 1e6).toFixed(1);
const t = { ready: m("trivial", "ready"), first: m("trivial", "first") };
console.log("| worker | start → accepting M | first request M (spread) | fresh-isolate cost over trivial M |");
console.log("| --- | ---: | ---: | ---: |");
for (const w of workers) {
  const ready = m(w, "ready"), first = m(w, "first");
  const statuses = [...new Set(rows.filter((r) => r.worker === w).map((r) => r.status))].join("/");
  const cost = Math.max(0, ready - t.ready) + (first - t.first);
  console.log(`| ${w} | ${M(ready)} | ${M(first)} (±${(spread(w, "first") / 2).toFixed(1)}) ${statuses} | ${w === "trivial" ? "—" : M(cost)} |`);
}
JS

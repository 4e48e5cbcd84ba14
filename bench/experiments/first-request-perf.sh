#!/usr/bin/env bash
# Where a fresh isolate's first request spends CPU, by runtime activity, from `perf` samples of
# the workerd process (C++ symbols; no JIT map needed). Run `bench/run.sh` once first (it
# generates bench/out/startup-*.capnp and the requests).
#   bash bench/experiments/first-request-perf.sh [worker: edge|jose|trivial-log|trivial] [runs] [request]
# Needs `perf` (Debian: linux-perf) and kernel.perf_event_paranoid ≤ 2.
set -euo pipefail
cd "$(dirname "$0")/../.."
W="${1:-edge}" RUNS="${2:-5}" REQ="${3:-}"
OUT=bench/out
WORKERD=node_modules/@cloudflare/workerd-linux-64/bin/workerd
[ -f "$OUT/startup-$W.capnp" ] || { echo "run bench/run.sh first ($OUT/startup-$W.capnp missing)" >&2; exit 1; }
case "$W" in edge|jose) path=/api/items; REQ="${REQ:-hs256}" ;; *) path=/; REQ="${REQ:-plain}" ;; esac
PORT="$(node -e 'process.stdout.write(String(require("./bench/out/ports.json").edge))')"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
hdr=(); while IFS= read -r l; do [ -n "$l" ] && hdr+=(-H "$l"); done < "$OUT/req/$REQ.headers"
for i in $(seq "$RUNS"); do
  "$WORKERD" serve "$OUT/startup-$W.capnp" >/dev/null 2>&1 & pid=$!
  for _ in $(seq 500); do (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.01; done
  sleep 0.3
  perf record -q -F 10000 -g -p "$pid" -o "$TMP/p$i.data" >/dev/null 2>&1 & rec=$!
  sleep 0.5
  curl -s -o /dev/null -w "run $i: first request %{time_total}s (under perf)\n" "${hdr[@]}" "http://127.0.0.1:$PORT$path"
  sleep 0.2
  kill -INT "$rec"; wait "$rec" || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
  perf report -i "$TMP/p$i.data" --children --sort sym -g none --percent-limit 0.5 2>/dev/null | grep -v '^#' > "$TMP/r$i.txt"
  perf script -i "$TMP/p$i.data" -F time 2>/dev/null | wc -l > "$TMP/n$i.txt"  # samples at 10 kHz = 0.1 ms each
done
python3 - "$TMP" "$RUNS" <<'PY'
import re, sys, statistics
tmp, runs = sys.argv[1], int(sys.argv[2])
rows = {
  "request handling in the isolate (all of it)": r"workerd::IoContext::runImpl$",
  "  wasm functions compiled on first call (Liftoff)": r"v8::internal::wasm::CompileLazy$",
  "  JS functions compiled on first call": r"v8::internal::Compiler::Compile$",
  "  first console.log (workerd loads its formatter)": r"workerd::Worker::handleLog$",
}
vals = {k: [] for k in rows}
cpu = []
for i in range(1, runs + 1):
  cpu.append(int(open(f"{tmp}/n{i}.txt").read().split()[0]) * 0.1)
  text = open(f"{tmp}/r{i}.txt").read().splitlines()
  for k, pat in rows.items():
    best = 0.0
    for line in text:
      m = re.match(r"\s*([\d.]+)%\s+[\d.]+%\s+\[.\]\s+(.*)$", line)
      if m and re.search(pat, m.group(2)):
        best = max(best, float(m.group(1)))
    vals[k].append(best)
total = statistics.median(cpu)
print(f"workerd CPU while serving the first request: {total:.1f} ms (median of {runs}; perf adds overhead)")
for k, v in vals.items():
  share = statistics.median(v)
  print(f"  {share:5.1f} %  ≈ {share * total / 100:5.1f} ms  {k}")
PY

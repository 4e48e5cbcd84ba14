#!/usr/bin/env bash
# Per-request CPU of the whole workerd process, a baseline build against ours, one request at a time:
# `perf stat` (task-clock, page faults, context switches, system calls) and utime/stime from /proc,
# over N sequential requests after a warm-up, the two builds alternating REPS times. It separates
# CPU from the throughput noise of wrk sharing two cores, and counts what callgrind does not see
# (kernel time, system calls, and — by comparison with bench/icount — cycles lost to the
# micro-architecture when instruction counts are equal).
#
#   bash bench/experiments/task-clock-ab.sh BASELINE_BUILD_DIR [request=invalid] [status=401] [N=4000] [REPS=3] [worker=edgev] [path=/api/items]
#   V8FLAGS='"--no-liftoff"' bash bench/experiments/task-clock-ab.sh …   # TurboFan only, as bench/icount runs
#
# Needs the release build in build/ (scripts/build-worker.sh) and perf (Debian linux-perf).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"; cd "$ROOT"
source scripts/lib.sh
BASE="$(realpath "${1:?baseline build dir (index.js + index_bg.wasm)}")"
REQ="${2:-invalid}" EXPECT="${3:-401}" N="${4:-4000}" REPS="${5:-3}" WORKER="${6:-edgev}" PATHQ="${7:-/api/items}"
command -v perf >/dev/null || die "perf not found (apt-get install linux-perf)"
WORKERD="$ROOT/node_modules/@cloudflare/workerd-linux-64/bin/workerd"
OUT="$ROOT/bench/out-task-clock"; rm -rf "$OUT"; mkdir -p "$OUT"
"$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild" bench/workers/origin.js --bundle --format=esm --platform=neutral \
  --log-level=warning --outfile="$OUT/origin-worker.js"
node bench/gen.mjs "$OUT" "$ROOT/build" >/dev/null
for side in base ours; do
  mkdir -p "$OUT/$side"; src=$([ $side = base ] && echo "$BASE" || echo "$ROOT/build")
  cp "$src/index.js" "$src/index_bg.wasm" "$OUT/$side/"
  f="$OUT/$side.capnp"
  sed -e "s#embed \"[^\"]*index\.js\"#embed \"$side/index.js\"#" -e "s#embed \"[^\"]*index_bg\.wasm\"#embed \"$side/index_bg.wasm\"#" \
    "$OUT/startup-edge.capnp" >"$f"
  if [ -n "${V8FLAGS:-}" ]; then
    python3 -c 'import sys;p=sys.argv[1];s=open(p).read();open(p,"w").write(s.replace("const config :Workerd.Config = (","const config :Workerd.Config = (\n  v8Flags = ["+sys.argv[2]+"],",1))' "$f" "$V8FLAGS"
  fi
  [ "$WORKER" = edge ] || sed -i 's#bindings = \[#bindings = [\n    (name = "DECISION_CACHE_TTL_SECONDS", text = "0"), (name = "NEGATIVE_CACHE_TTL_SECONDS", text = "0"),#' "$f"
done
PORT="$(grep -o 'address = "127.0.0.1:[0-9]*", http = (), service = "main"' "$OUT/startup-edge.capnp" | head -1 | sed 's/.*127.0.0.1:\([0-9]*\).*/\1/')"
step "task-clock A/B: $REQ on $PATHQ ($WORKER), $N requests × $REPS per build"
for rep in $(seq 1 "$REPS"); do for side in base ours; do
  "$WORKERD" serve "$OUT/$side.capnp" >"$OUT/$side.log" 2>&1 & vp=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
  node bench/icount/drive.mjs "$PORT" /api/items "$OUT/req" hs256,es256,invalid 100 >/dev/null
  node bench/icount/drive.mjs "$PORT" "$PATHQ" "$OUT/req" "$REQ" 2000 >/dev/null
  perf stat -x, -e task-clock,page-faults,context-switches,raw_syscalls:sys_enter -p "$vp" -o "$OUT/stat-$side-$rep.txt" & pp=$!
  sleep 0.3; read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$vp/stat")
  got="$(node bench/icount/drive.mjs "$PORT" "$PATHQ" "$OUT/req" "$REQ" "$N")"
  kill -INT "$pp"; wait "$pp" || true; read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$vp/stat")
  kill "$vp"; wait "$vp" 2>/dev/null || true
  case "$got" in *"\"$EXPECT\":$N"*) ;; *) die "$side: expected $N × $EXPECT, got $got (see $OUT/$side.log)";; esac
  printf '%s %s utime=%s stime=%s %s\n' "$rep" "$side" $((u1 - u0)) $((s1 - s0)) \
    "$(awk -F, -v n="$N" '$3!=""{printf "%s=%.2f ", $3, ($3=="task-clock"?1000:1)*$1/n}' "$OUT/stat-$side-$rep.txt")" | tee -a "$OUT/results.txt"
done; done
note "task-clock is µs of CPU per request (all threads); the other counters are per request; utime/stime in ticks"

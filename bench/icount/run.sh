#!/usr/bin/env bash
# Instructions per request, ours against a baseline build: a deterministic A/B of the request path
# that a busy machine cannot disturb (wall-clock benchmarks can: bench/run.sh needs a quiet machine).
#
#   bash bench/icount/run.sh --baseline BUILD_DIR [--only REGEX] [--n 300] [--warm 400] [--no-build] [--profile] [--cache-sim]
#
# For each scenario and each build, one workerd process runs under valgrind's callgrind (which
# counts instructions executed, every thread of the process: V8, workerd, the Worker's JS and
# wasm). It is warmed (a mixed round-robin of HS256, ES256 and invalid tokens, then the scenario
# itself), the counters are zeroed, N requests are sent one at a time, and the count is read.
# Instructions per request = that count / N. V8 runs --single-threaded (no concurrent compile or GC
# threads, whose timing otherwise moved a row by up to 17 % between runs): repeated runs of one build
# then agree within ~0.3 % on most rows and within ~2–4 % on others (when a function is optimised
# or deoptimised inside the counted window); --profile (V8's perf map) shifts counts by a few % too.
# Differences under ~4 % between builds need repeated runs; bench/experiments/task-clock-ab.sh
# measures CPU time, which counts what instructions do not (cache misses, kernel time).
# V8 runs with --no-liftoff: wasm is compiled by TurboFan on first call, as hot code is in the
# steady state a load test sees (with Liftoff, tier-up under valgrind takes thousands of requests).
# --profile also keeps V8's perf map and callgrind's per-function counts for bench/icount/diff.py.
# ICOUNT_KEEP=1 also keeps callgrind's output files (bench/out-icount/callgrind-*.out): who calls what
# (`callgrind_annotate --tree=caller`), e.g. which JIT address calls a V8 builtin (name it from the perf map).
# Needs valgrind (installed from Debian's packages when missing). ~1 min per scenario and build.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"; cd "$ROOT"
source scripts/lib.sh
BASELINE="" ONLY="" N=300 WARM=400 BUILD=1 PROFILE=0 CACHESIM=no
while [ $# -gt 0 ]; do
  case "$1" in
    --baseline) BASELINE="$(realpath "$2")"; shift ;;
    --only) ONLY="$2"; shift ;;
    --n) N="$2"; shift ;;
    --warm) WARM="$2"; shift ;;
    --no-build) BUILD=0 ;;
    --profile) PROFILE=1 ;;
    --cache-sim) CACHESIM=yes ;; # also simulate caches (I1/D1/LL misses per request in results.jsonl; ~2× slower)
    *) die "unknown option $1 (see the header of bench/icount/run.sh)" ;;
  esac
  shift
done
[ -n "$BASELINE" ] || die "--baseline BUILD_DIR is required (another revision's scripts/build-worker.sh output)"
[ -f "$BASELINE/index.js" ] && [ -f "$BASELINE/index_bg.wasm" ] || die "$BASELINE has no index.js + index_bg.wasm"
if ! command -v valgrind >/dev/null; then
  step "icount: installing valgrind from Debian's packages"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null) || die "could not install valgrind"
fi
WORKERD="$ROOT/node_modules/@cloudflare/workerd-linux-64/bin/workerd"
[ -x "$WORKERD" ] || die "workerd not found: run npm ci (or scripts/setup.sh)"
if [ "$BUILD" = 1 ]; then
  step "icount: building the Worker (scripts/build-worker.sh)"
  bash scripts/build-worker.sh >target/build-worker.log 2>&1 || { tail -n 30 target/build-worker.log; die "worker build failed"; }
fi

OUT="$ROOT/bench/out-icount"; rm -rf "$OUT"; mkdir -p "$OUT"
"$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild" bench/workers/origin.js --bundle --format=esm --platform=neutral \
  --log-level=warning --outfile="$OUT/origin-worker.js"
node bench/gen.mjs "$OUT" "$ROOT/build" >/dev/null
for side in base ours; do
  mkdir -p "$OUT/$side"
  src=$([ $side = base ] && echo "$BASELINE" || echo "$ROOT/build")
  cp "$src/index.js" "$src/index_bg.wasm" "$OUT/$side/"
done
FLAGS='"--no-liftoff", "--single-threaded"'; [ "$PROFILE" = 1 ] && FLAGS='"--no-liftoff", "--single-threaded", "--perf-basic-prof"'
# ICOUNT_V8_FLAGS overrides the V8 flags ('' = V8's defaults: Liftoff, tier-up, background threads),
# e.g. with CONCURRENCY=8 (bench/icount/drive.mjs) to count a request as it runs under load.
[ -n "${ICOUNT_V8_FLAGS+set}" ] && FLAGS="$ICOUNT_V8_FLAGS"
config() { # side worker(edge|edgev) → capnp path
  local f="$OUT/$1-$2.capnp"
  sed -e "s#embed \"[^\"]*index\.js\"#embed \"$1/index.js\"#" -e "s#embed \"[^\"]*index_bg\.wasm\"#embed \"$1/index_bg.wasm\"#" \
    -e "s#^const config :Workerd.Config = (#const config :Workerd.Config = (\n  v8Flags = [$FLAGS],#" \
    "$OUT/startup-edge.capnp" >"$f"
  # edgev: the decision caches off, as bench/gen.mjs configures `edgev`.
  [ "$2" = edge ] || sed -i 's#bindings = \[#bindings = [\n    (name = "DECISION_CACHE_TTL_SECONDS", text = "0"), (name = "NEGATIVE_CACHE_TTL_SECONDS", text = "0"),#' "$f"
  echo "$f"
}
PORT="$(grep -o 'address = "127.0.0.1:[0-9]*", http = (), service = "main"' "$OUT/startup-edge.capnp" | head -1 | sed 's/.*127.0.0.1:\([0-9]*\).*/\1/')"
[ -n "$PORT" ] || die "could not read the edge's port from $OUT/startup-edge.capnp"

# name | worker | path | request | expected status — the rows of bench/run.sh.
SCENARIOS=(
  "HS256 + forward|edgev|/api/items|hs256|200"
  "EdDSA + forward|edgev|/api/items|eddsa|200"
  "ES256 + forward|edgev|/api/items|es256|200"
  "RS256 + forward|edgev|/api/items|rs256|200"
  "invalid token → 401|edgev|/api/items|invalid|401"
  "cached decision + forward|edge|/api/items|es256|200"
  "Stripe webhook 1 KiB + forward|edgev|/webhooks/stripe|stripe|200"
  "rate-limited → 429|edge|/limited/x|plain|429"
)

measure() { # name worker path req expect side
  local name="$1" worker="$2" path="$3" req="$4" expect="$5" side="$6" cfg log cg vp got ir
  cfg="$(config "$side" "$worker")"; log="$OUT/$side-$req-$worker.log"; cg="$OUT/cg-$side-$req-$worker.out"
  valgrind --tool=callgrind --cache-sim=$CACHESIM --smc-check=all-non-file --callgrind-out-file="$cg" "$WORKERD" serve "$cfg" >"$log" 2>&1 &
  vp=$!
  for _ in $(seq 1 180); do
    kill -0 "$vp" 2>/dev/null || die "workerd under valgrind exited (see $log)"
    curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 1
  done
  node bench/icount/drive.mjs "$PORT" /api/items "$OUT/req" hs256,es256,invalid 100 >/dev/null
  node bench/icount/drive.mjs "$PORT" "$path" "$OUT/req" "$req" "$WARM" >/dev/null
  callgrind_control -z "$vp" >/dev/null
  got="$(node bench/icount/drive.mjs "$PORT" "$path" "$OUT/req" "$req" "$N")"
  callgrind_control -d "$vp" >/dev/null
  [ "$PROFILE" = 0 ] || cp "/tmp/perf-$vp.map" "$OUT/perf-$side-$req-$worker.map" 2>/dev/null || true
  kill "$vp" 2>/dev/null; wait "$vp" 2>/dev/null || true
  rm -f "/tmp/perf-$vp.map"
  # workerd's loopback subrequest now and then loses a kept-alive connection to the origin stub
  # ("Network connection lost": one 503, on either build): up to 1 % of other answers is noted,
  # more is an error.
  local ok other
  ok="$(node -e 'const g=JSON.parse(process.argv[1]);console.log(g[process.argv[2]]||0)' "$got" "$expect")"
  other=$((N - ok))
  [ $((other * 100)) -le "$N" ] || die "$name on $side: expected $N × $expect, got $got (see $log)"
  [ "$other" = 0 ] || note "  $side: $other of $N answered otherwise ($got; see $log)"
  ir="$(grep -h -m1 '^summary:\|^totals:' "$(ls -t "$cg".* | head -1)" | awk '{print $2}')"
  events="$(grep -h -m1 '^events:' "$(ls -t "$cg".* | head -1)" | cut -d' ' -f2-)"
  counts="$(grep -h -m1 '^summary:\|^totals:' "$(ls -t "$cg".* | head -1)" | cut -d' ' -f2-)"
  if [ "$PROFILE" = 1 ]; then
    callgrind_annotate --inclusive=no --threshold=100 "$(ls -t "$cg".* | head -1)" >"$OUT/ann-$side-$req-$worker.txt" 2>/dev/null
  fi
  # ICOUNT_KEEP=1 keeps callgrind's own output (call graph included: callgrind_annotate --tree=caller).
  [ -z "${ICOUNT_KEEP:-}" ] || cp "$(ls -t "$cg".* | head -1)" "$OUT/callgrind-$side-$req-$worker.out"
  rm -f "$cg" "$cg".*
  node -e 'const [s,side,ir,n,got,ev,cs]=process.argv.slice(1);const e=ev.split(" "),c=cs.split(" ").map(Number);const per={};e.forEach((k,i)=>per[k]=Math.round(c[i]/n));console.log(JSON.stringify({scenario:s,side,ir:+ir,n:+n,per_request:Math.round(ir/n),events_per_request:per,statuses:JSON.parse(got)}))' \
    "$name" "$side" "$ir" "$N" "$got" "$events" "$counts" | tee -a "$OUT/results.jsonl"
}

step "icount: $N requests per scenario and build after $WARM warm-up (callgrind; ~1 min each)"
for s in "${SCENARIOS[@]}"; do
  IFS='|' read -r name worker path req expect <<<"$s"
  [ -n "$ONLY" ] && ! [[ "$name" =~ $ONLY ]] && continue
  note "$name"
  measure "$name" "$worker" "$path" "$req" "$expect" base
  measure "$name" "$worker" "$path" "$req" "$expect" ours
done

step "icount: instructions per request (whole workerd process), ours ÷ base"
node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
const by = new Map();
for (const r of rows) { if (!by.has(r.scenario)) by.set(r.scenario, {}); by.get(r.scenario)[r.side] = r.per_request; }
console.log("| scenario | base instr/req | ours instr/req | ours ÷ base |\n| --- | ---: | ---: | ---: |");
for (const [s, v] of by) console.log(`| ${s} | ${v.base} | ${v.ours} | ${(v.ours / v.base).toFixed(3)} |`);
' "$OUT/results.jsonl" | tee "$OUT/table.md"

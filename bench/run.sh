#!/usr/bin/env bash
# The benchmark: builds the release wasm, runs our edge Worker, JS comparison Workers and an
# origin stub in ONE workerd process started directly (not `wrangler dev`), drives each scenario
# with wrk on 127.0.0.1 in interleaved A/B rounds, and prints one table. See docs/PERFORMANCE.md.
#
#   bench/run.sh [--no-build] [--rounds N] [--duration SECS] [--connections C] [--only REGEX]
#                [--startup-runs N] [--no-startup] [--baseline BUILD_DIR]
#
# --baseline: another revision's build (index.js + index_bg.wasm, e.g. from scripts/build-worker.sh
# with OUT_DIR) runs in the same workerd with the same bindings and is measured in the same rounds
# (side `base`): the report adds a before → after table whose ratios are taken side by side.
#
# Everything generated (config, keys, tokens, results) goes to bench/out/ (git-ignored).
source "$(dirname "$0")/../scripts/lib.sh"

ROUNDS=3 DURATION=5 CONNS=8 ONLY="" BUILD=1 STARTUP_RUNS=7 STARTUP=1 BASELINE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0 ;;
    --rounds) ROUNDS="$2"; shift ;;
    --duration) DURATION="$2"; shift ;;
    --connections) CONNS="$2"; shift ;;
    --only) ONLY="$2"; shift ;;
    --startup-runs) STARTUP_RUNS="$2"; shift ;;
    --no-startup) STARTUP=0 ;;
    --baseline) BASELINE="$(realpath "$2")"; shift
      [ -f "$BASELINE/index.js" ] && [ -f "$BASELINE/index_bg.wasm" ] || die "--baseline $2: no index.js + index_bg.wasm there" ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done

# ---- Scenarios: one line each, adding one is a one-line change. --------------------------------
# name | edge worker | path | request (bench/out/req/<r>) | comparison worker | comparison request | expected status | feature check | floor request
# The floor (bench/workers/floor.js) is the least any Worker doing the job can do here; run in the
# same rounds, floor ÷ comparison bounds the ratio any edge can reach (empty: no floor for the row).
# `floormac` is the same floor computing the MACs the job cannot skip (token HMAC, webhook HMAC,
# envelope): the tight bound.
# `edgev` is our edge with the decision caches off (every request verifies, like jose does);
# `edge` is the default configuration. Goals per scenario live in bench/report.mjs.
# A scenario whose probe (2 requests, the last must give the expected status) or feature check
# (optional shell test) fails on our edge is reported as "not implemented yet in the edge".
# For 200 scenarios the probe also checks the body is the origin stub's "ok" (really forwarded).
SCENARIOS=(
  "HS256 + forward|edgev|/api/items|hs256|jose|hs256|200||hs256"
  "EdDSA + forward|edgev|/api/items|eddsa|jose|eddsa|200||eddsa"
  "ES256 + forward|edgev|/api/items|es256|jose|es256|200||es256"
  "RS256 + forward|edgev|/api/items|rs256|jose|rs256|200||rs256"
  "invalid token → 401|edgev|/api/items|invalid|jose|invalid|401||"
  "cached decision + forward (vs no-auth proxy)|edge|/api/items|es256|proxy|plain|200|grep -rqs DecisionCache src/pipeline src/worker|plain"
  "Stripe webhook 1 KiB + forward|edgev|/webhooks/stripe|stripe|webhook|stripe|200||stripe"
  "rate-limited → 429|edge|/limited/x|plain|ratelimit|plain|429||"
)

OUT="$ROOT/bench/out"
# The platform binary itself (npm's .bin/workerd may be a JS launcher on some installs; the CPU time
# per request is read from the workerd process's /proc entry).
WORKERD="$ROOT/node_modules/@cloudflare/workerd-linux-64/bin/workerd"
[ -x "$WORKERD" ] || WORKERD="$ROOT/node_modules/.bin/workerd"
ESBUILD="$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild"
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
[ -x "$WORKERD" ] && [ -x "$ESBUILD" ] || die "run npm ci first (workerd, esbuild, jose come from node_modules)"

if [ "$BUILD" = 1 ]; then
  step "Building the release Worker (scripts/build-worker.sh)"
  bash scripts/build-worker.sh >"$OUT.build.log" 2>&1 || { tail -30 "$OUT.build.log"; die "build failed (log: $OUT.build.log)"; }
fi
[ -f build/index.js ] && [ -f build/index_bg.wasm ] || die "build/index.js or build/index_bg.wasm missing (run without --no-build)"
# The wasm floor (bench/wasm-floor/): the smallest workers-rs Worker, built by the same steps into
# bench/out-build/ (git-ignored, kept across runs like build/); start-up rows only.
FLOOR_BUILD="bench/out-build/wasm-floor"
# The bare wasm floor (bench/wasm-floor-bare/): HS256 in wasm + forward, built the way ours is since
# issue 23 (one synchronous export, JS does the I/O, no workers-rs).
BARE_BUILD="bench/out-build/wasm-floor-bare"
if [ "$BUILD" = 1 ] && [ "$STARTUP" = 1 ]; then
  step "Building the wasm floor (bench/wasm-floor, scripts/build-worker.sh → $FLOOR_BUILD)"
  mkdir -p "$FLOOR_BUILD"
  PACKAGE=edge-auth-wasm-floor ENTRY=bench/wasm-floor/entry.js OUT_DIR="$FLOOR_BUILD" \
    bash scripts/build-worker.sh >"$FLOOR_BUILD.build.log" 2>&1 || { tail -30 "$FLOOR_BUILD.build.log"; die "wasm floor build failed (log: $FLOOR_BUILD.build.log)"; }
  step "Building the bare wasm floor (bench/wasm-floor-bare: our shape, no workers-rs → $BARE_BUILD)"
  mkdir -p "$BARE_BUILD"
  PACKAGE=edge-auth-wasm-floor-bare ENTRY=bench/wasm-floor-bare/entry.js OUT_DIR="$BARE_BUILD" \
    bash scripts/build-worker.sh >"$BARE_BUILD.build.log" 2>&1 || { tail -30 "$BARE_BUILD.build.log"; die "bare wasm floor build failed (log: $BARE_BUILD.build.log)"; }
fi

step "Generating keys, tokens, workers and the workerd config in bench/out/"
rm -rf "$OUT"; mkdir -p "$OUT"
for w in jose webhook proxy ratelimit floor origin trivial trivial-log; do
  "$ESBUILD" "bench/workers/$w.js" --bundle --format=esm --platform=neutral --log-level=warning \
    --outfile="$OUT/$w-worker.js"
done
BARE=""; [ ! -f "$BARE_BUILD/index_bg.wasm" ] || BARE="$ROOT/$BARE_BUILD"
BASELINE="${BASELINE:-}" BARE_FLOOR="$BARE" node bench/gen.mjs "$OUT" "$ROOT/build" "$ROOT/$FLOOR_BUILD"
PORTS="$(cat "$OUT/ports.json")"
port() { node -e "process.stdout.write(String(JSON.parse(process.argv[1])[process.argv[2]]))" "$PORTS" "$1"; }

WD_PID=""
stop_workerd() { if [ -n "$WD_PID" ]; then kill "$WD_PID" 2>/dev/null || true; wait "$WD_PID" 2>/dev/null || true; WD_PID=""; fi; }
trap stop_workerd EXIT
start_workerd() {
  "$WORKERD" serve "$OUT/config.capnp" >"$OUT/workerd.log" 2>&1 &
  WD_PID=$!
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$(port origin)") 2>/dev/null && return 0
    kill -0 "$WD_PID" 2>/dev/null || { cat "$OUT/workerd.log"; die "workerd exited"; }
    sleep 0.05
  done
  die "workerd did not start (log: $OUT/workerd.log)"
}

# Sends the scenario request twice and prints the last status and the start of its body.
probe() { # port path req
  local m; m="$(cat "$OUT/req/$3.method")"
  local args=(-s -o "$OUT/probe.body" -w '%{http_code}' -X "$m" -H "@$OUT/req/$3.headers")
  [ -f "$OUT/req/$3.body" ] && args+=(--data-binary "@$OUT/req/$3.body")
  curl "${args[@]}" "http://127.0.0.1:$1$2" >/dev/null || true
  local code; code="$(curl "${args[@]}" "http://127.0.0.1:$1$2" || echo 000)"
  printf '%s %s' "$code" "$(head -c 160 "$OUT/probe.body" | tr -d '\n')"
}

# workerd's CPU time so far (user + system, all threads), in clock ticks.
TCK="$(getconf CLK_TCK)"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$WD_PID/stat"; }

run_wrk() { # label side round port path req
  local line before after
  before="$(cpu_ticks)"
  line="$(BENCH_REQ_DIR="$OUT/req" BENCH_REQ="$6" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency \
    -s bench/req.lua "http://127.0.0.1:$4$5" | grep '^BENCHJSON' | sed 's/^BENCHJSON //')"
  after="$(cpu_ticks)"
  [ -n "$line" ] || die "wrk produced no result for $1 ($2)"
  # cpu_us: workerd's CPU time per request during the run (the Worker, the origin stub and the
  # runtime's own threads) — the platform bills CPU time. Under wrk the process keeps one core
  # busy, so its ratios track the req/s ones; the absolute µs are the point.
  node -e 'const [s,side,r,l,d,tck]=process.argv.slice(1);const j=JSON.parse(l);
    console.log(JSON.stringify({scenario:s,side,round:+r,...j,cpu_us:(+d/+tck)*1e6/Math.max(1,j.requests)}))' \
    "$1" "$2" "$3" "$line" "$((after - before))" "$TCK" >>"$OUT/results.jsonl"
  printf '    %-46s %-11s round %s: %8.0f req/s\n' "$1" "$2" "$3" "$(node -e 'console.log(JSON.parse(process.argv[1]).rps)' "$line")"
}

step "Starting workerd (one process: edge, edge without caches, jose, webhook, proxy, ratelimit, floor, floor + MACs, origin)"
start_workerd
note "workerd $("$WORKERD" --version) pid $WD_PID; log: $OUT/workerd.log"

step "Probing scenarios"
: >"$OUT/results.jsonl"; : >"$OUT/skipped.jsonl"
ACTIVE=()
for s in "${SCENARIOS[@]}"; do
  IFS='|' read -r name edge path req comp creq expect feature freq <<<"$s"
  [ -n "$ONLY" ] && ! [[ "$name" =~ $ONLY ]] && continue
  cres="$(probe "$(port "$comp")" "$path" "$creq")"
  [ "${cres%% *}" = "$expect" ] && { [ "$expect" != 200 ] || [ "${cres#* }" = "ok" ]; } || die "comparison worker '$comp' broken for '$name': expected $expect, got $cres"
  if [ -n "$freq" ]; then
    for f in floor floormac; do
      fres="$(probe "$(port $f)" "$path" "$freq")"
      [ "$fres" = "200 ok" ] || die "$f worker broken for '$name': expected 200 ok, got $fres"
    done
    # The tight floor's MACs are real: a forged HS256 signature and a tampered delivery are refused.
    forged=""; case "$freq" in hs256) forged=invalid ;; stripe) forged=stripe-tampered ;; esac
    if [ -n "$forged" ]; then
      fres="$(probe "$(port floormac)" "$path" "$forged")"
      [ "${fres%% *}" = 401 ] || die "floormac worker accepted '$forged' for '$name' (got $fres): its MAC check is not real"
    fi
  fi
  why=""
  if [ -n "$feature" ] && ! (eval "$feature"); then
    why="feature check failed: $feature"
  else
    eres="$(probe "$(port "$edge")" "$path" "$req")"
    [ "${eres%% *}" = "$expect" ] || why="probe expected $expect, got $eres"
    [ "$expect" != 200 ] || [ "${eres#* }" = "ok" ] || why="probe got 200 but not from the origin: $eres"
  fi
  if [ -z "$why" ] && [ -n "$BASELINE" ]; then
    bres="$(probe "$(port "${edge}0")" "$path" "$req")"
    [ "${bres%% *}" = "$expect" ] || die "baseline build broken for '$name': expected $expect, got $bres"
  fi
  if [ -n "$why" ]; then
    note "SKIP  $name — not implemented yet in the edge ($why)"
    node -e 'const [s,w]=process.argv.slice(1);console.log(JSON.stringify({scenario:s,why:w}))' "$name" "$why" >>"$OUT/skipped.jsonl"
  else
    note "ok    $name"
    ACTIVE+=("$s")
  fi
done

if [ "${#ACTIVE[@]}" -gt 0 ]; then
  step "Warm-up (1 s each)"
  for s in "${ACTIVE[@]}"; do
    IFS='|' read -r name edge path req comp creq expect feature freq <<<"$s"
    BENCH_REQ_DIR="$OUT/req" BENCH_REQ="$req" wrk -t1 -c"$CONNS" -d1s -s bench/req.lua "http://127.0.0.1:$(port "$edge")$path" >/dev/null
    BENCH_REQ_DIR="$OUT/req" BENCH_REQ="$creq" wrk -t1 -c"$CONNS" -d1s -s bench/req.lua "http://127.0.0.1:$(port "$comp")$path" >/dev/null
    [ -z "$BASELINE" ] || BENCH_REQ_DIR="$OUT/req" BENCH_REQ="$req" wrk -t1 -c"$CONNS" -d1s -s bench/req.lua "http://127.0.0.1:$(port "${edge}0")$path" >/dev/null
    for f in ${freq:+floor floormac}; do
      BENCH_REQ_DIR="$OUT/req" BENCH_REQ="$freq" wrk -t1 -c"$CONNS" -d1s -s bench/req.lua "http://127.0.0.1:$(port $f)$path" >/dev/null
    done
  done
  step "Measuring: $ROUNDS interleaved rounds × ${DURATION}s, wrk -t1 -c$CONNS"
  for r in $(seq 1 "$ROUNDS"); do
    for s in "${ACTIVE[@]}"; do
      IFS='|' read -r name edge path req comp creq expect feature freq <<<"$s"
      # Alternate who goes first so drift (other load on the machine) hits both sides alike.
      # The baseline (--baseline) runs right next to ours, on the other side of it each round.
      if [ $((r % 2)) = 1 ]; then
        [ -z "$BASELINE" ] || run_wrk "$name" base "$r" "$(port "${edge}0")" "$path" "$req"
        run_wrk "$name" ours "$r" "$(port "$edge")" "$path" "$req"
        run_wrk "$name" "$comp" "$r" "$(port "$comp")" "$path" "$creq"
        for f in ${freq:+floor floormac}; do run_wrk "$name" $f "$r" "$(port $f)" "$path" "$freq"; done
      else
        for f in ${freq:+floormac floor}; do run_wrk "$name" $f "$r" "$(port $f)" "$path" "$freq"; done
        run_wrk "$name" "$comp" "$r" "$(port "$comp")" "$path" "$creq"
        run_wrk "$name" ours "$r" "$(port "$edge")" "$path" "$req"
        [ -z "$BASELINE" ] || run_wrk "$name" base "$r" "$(port "${edge}0")" "$path" "$req"
      fi
    done
  done
fi
stop_workerd

step "Size of the upload (build/index.js + build/index_bg.wasm)"
size_json() { # [build dir]
  local d="${1:-build}" js wasm jsz wasmz
  js=$(stat -c %s "$d/index.js"); wasm=$(stat -c %s "$d/index_bg.wasm")
  jsz=$(gzip -9c "$d/index.js" | wc -c); wasmz=$(gzip -9c "$d/index_bg.wasm" | wc -c)
  printf '{"js":%d,"wasm":%d,"js_gz":%d,"wasm_gz":%d}' "$js" "$wasm" "$jsz" "$wasmz"
}
size_json >"$OUT/size.json"
[ ! -f "$OUT/startup-wasm-hello.capnp" ] || size_json "$FLOOR_BUILD" >"$OUT/size-wasm-floor.json"

if [ "$STARTUP" = 1 ]; then
  step "Start-up: fresh workerd × $STARTUP_RUNS each; first request vs warm (edge, jose, wasm-bare, wasm-hs256: HS256 token → /api/items)"
  for w in edge jose wasm-bare wasm-hs256 wasm-hello trivial-log trivial; do
    # The wasm floor's configs exist only when it was built (not with --no-build and no earlier build).
    [ -f "$OUT/startup-$w.capnp" ] || { echo "  $w: skipped (not built)"; continue; }
    case "$w" in edge|jose|wasm-bare|wasm-hs256) path=/api/items req=hs256 ;; *) path=/ req=plain ;; esac
    echo "  $w"
    node bench/startup.mjs "$WORKERD" "$OUT/startup-$w.capnp" "$(port edge)" "$path" "$OUT/req/$req.headers" "$STARTUP_RUNS" >"$OUT/startup-$w.json"
  done
fi

step "Results"
node bench/report.mjs "$OUT" "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src bench/wasm-floor bench/wasm-floor-bare Cargo.toml Cargo.lock || echo '+dirty')" \
  "wrk -t1 -c$CONNS -d${DURATION}s × $ROUNDS rounds" | tee "$OUT/table.md"

#!/usr/bin/env bash
# The wasm plan step's cost per call (workerd's CPU time), two builds side by side in one workerd
# (interleaved runs):
#   bash bench/experiments/plan-loop/ab.sh <A.wasm> <B.wasm> [request: hs256] [runs: 9]
# A/B are cargo's wasm32 outputs (target/wasm32-unknown-unknown/release/edge_auth.wasm, copied aside
# between builds). Needs bench/out from one bench/run.sh (config, requests) and wasm-bindgen.
# PROFILE=1: instead, a V8 CPU profile of A's plan loop (build A with CARGO_PROFILE_RELEASE_STRIP=false
# for wasm function names; B is ignored but must exist).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; ROOT="$(cd "$HERE/../../.." && pwd)"
A="$(realpath "$1")" B="$(realpath "$2")" REQ="${3:-hs256}" RUNS="${4:-9}"
OUT="$ROOT/bench/out/plan-loop"; rm -rf "$OUT"; mkdir -p "$OUT"
[ -f "$ROOT/bench/out/config.capnp" ] || { echo "run bench/run.sh once first" >&2; exit 1; }
for v in A B; do
  w=$([ $v = A ] && echo "$A" || echo "$B")
  mkdir -p "$OUT/$v/pkg"
  wasm-bindgen "$w" --out-dir "$OUT/$v/pkg" --out-name index --target module --no-typescript \
    --experimental-reset-state-function --force-enable-abort-handler 2>/dev/null
  # Builds from before issue 23's last step import glue.js as a wasm-bindgen snippet; later ones
  # do not import it from wasm at all (entry.js does).
  snippet="$(find "$OUT/$v/pkg" -path '*snippets*' -name glue.js 2>/dev/null | head -1 || true)"
  cp "${snippet:-$ROOT/src/worker/glue.js}" "$OUT/$v/pkg/glue.js"
  cp "$ROOT/src/worker/plan.mjs" "$OUT/$v/pkg/plan.mjs"  # the plan decoder (the versioned protocol)
  cp "$ROOT/src/worker/frame.mjs" "$OUT/$v/pkg/frame.mjs"  # the call frame (builds from 1c7b447 on)
  sed -i 's#"./snippets/[^"]*/glue.js"#"./glue.js"#' "$OUT/$v/pkg/index.js"
  # LOOP_A: A's loop.js when A's edge_plan takes other arguments (e.g. `git show <rev>:<this dir>/loop.js`;
  # builds before 1c7b447 took strings and bytes, not a call frame: `git show 272f0ff:<this dir>/loop.js`).
  # LOOP_B likewise for B (e.g. the same wasm with a JS-side variant).
  if [ $v = A ] && [ -n "${LOOP_A:-}" ]; then cp "$LOOP_A" "$OUT/$v/loop.js";
  elif [ $v = B ] && [ -n "${LOOP_B:-}" ]; then cp "$LOOP_B" "$OUT/$v/loop.js"; else cp "$HERE/${LOOP:-loop.js}" "$OUT/$v/loop.js"; fi
  "$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild" "$OUT/$v/loop.js" --bundle --format=esm --log-level=warning \
    --external:./index_bg.wasm --outfile="$OUT/$v.js"
  sed -i 's/import source /import /; s#"./pkg/index_bg.wasm"#"./index_bg.wasm"#' "$OUT/$v.js"
  cp "$OUT/$v/pkg/index_bg.wasm" "$OUT/$v.wasm"
done
# Our `edge` worker's bindings (decision cache on; WORKER=edgev: off), with the modules swapped; the origin stub
# answers the revocation sync.
node - "$ROOT/bench/out/config.capnp" "$OUT/config.capnp" <<'JS'
const fs = require("fs");
const cfg = fs.readFileSync(process.argv[2], "utf8");
// WORKER=edgev: the decision cache off (every request verifies).
const which = process.env.WORKER || "edge";
const from = cfg.indexOf(`const ${which} :Workerd.Worker`);
const edge = cfg.slice(from, cfg.indexOf("\nconst ", from + 1) + 1);
const origin = cfg.slice(cfg.indexOf("const origin :Workerd.Worker")).replace(/embed "/, 'embed "../');
const w = (v) => edge.replace(`const ${which} `, `const ${v} `).replace(/embed "[^"]*index\.js"/, `embed "${v.toUpperCase()}.js"`)
  .replace(/embed "[^"]*index_bg\.wasm"/, `embed "${v.toUpperCase()}.wasm"`);
const port = JSON.parse(fs.readFileSync(process.argv[2].replace("config.capnp", "ports.json"))).origin;
fs.writeFileSync(process.argv[3], `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "a", worker = .a), (name = "b", worker = .b), (name = "origin", worker = .origin),
              (name = "loopback", network = (allow = ["public", "private", "local"]))],
  sockets = [(name = "a", address = "127.0.0.1:18882", http = (), service = "a"),
             (name = "b", address = "127.0.0.1:18883", http = (), service = "b"),
             (name = "o", address = "127.0.0.1:${port}", http = (), service = "origin")],
);
${w("a")}${w("b")}${origin}`);
JS
INSPECT=(); [ "${PROFILE:-0}" = 1 ] && INSPECT=(--inspector-addr=127.0.0.1:9229)
"$ROOT/node_modules/.bin/workerd" serve "$OUT/config.capnp" "${INSPECT[@]}" >"$OUT/workerd.log" 2>&1 &
WD=$!; trap 'kill $WD 2>/dev/null || true' EXIT
for _ in $(seq 200); do (echo >/dev/tcp/127.0.0.1/18883) 2>/dev/null && break; sleep 0.05; done
AUTH="$(sed -n 's/^Authorization: //p' "$ROOT/bench/out/req/$REQ.headers")"
N="${N:-40000}"
# workerd's CPU time (user + system, all threads) spent serving one request, in seconds: less
# disturbed than wall time by other tenants of a shared machine (10 ms ticks; runs last ~1 s).
TCK="$(getconf CLK_TCK)"
cpu() { awk '{print $14 + $15}' "/proc/$WD/stat"; }
t() {
  local before; before=$(cpu)
  curl -s -o /dev/null -H "Authorization: $AUTH" "http://127.0.0.1:$1/?n=$2"
  echo "($(cpu) - $before) / $TCK" | bc -l
}
for p in 18882 18883; do t $p $N >/dev/null; t $p $N >/dev/null; done  # warm: tier-up
for p in 18882 18883; do  # what one call did (the plan kinds seen), so a stuck loop is not timed
  echo "$([ $p = 18882 ] && echo A || echo B): $(curl -s -H "Authorization: $AUTH" "http://127.0.0.1:$p/?n=1")"
done
if [ "${PROFILE:-0}" = 1 ]; then
  node --experimental-websocket "$ROOT/bench/cpuprofile.mjs" a 18882 "/?n=2000" "$REQ" 4 "${TOP:-40}"
  exit 0
fi
echo "plan step per call (workerd CPU time), $REQ, $RUNS interleaved runs of $N calls:"
ra=(); rb=(); rr=()
for i in $(seq "$RUNS"); do
  a=$(node -e "console.log((($(t 18882 $N))-($(t 18882 0)))*1e6/$N)")
  b=$(node -e "console.log((($(t 18883 $N))-($(t 18883 0)))*1e6/$N)")
  ra+=("$a"); rb+=("$b"); rr+=("$(node -e "console.log($b/$a)")")
done
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
printf 'A %.1f µs, B %.1f µs, B/A median %.2f (runs: %s)\n' "$(med "${ra[@]}")" "$(med "${rb[@]}")" "$(med "${rr[@]}")" \
  "$(printf '%.2f ' "${rr[@]}")"

#!/usr/bin/env bash
# Which wasm functions a fresh isolate's first request makes V8 compile, and how much machine
# code that is. Starts workerd on bench/out/startup-$WORKER.capnp with `--perf-basic-prof` (V8 then
# appends every compiled function to /tmp/perf-<pid>.map), snapshots the map, sends one request,
# and diffs. For readable names build with `CARGO_PROFILE_RELEASE_STRIP=false bash scripts/build-worker.sh`
# (and rebuild normally afterwards). Run `bench/run.sh` once first (it generates bench/out/).
#   bash bench/experiments/first-request-code.sh [request: hs256|invalid|es256|…] [top]
# WORKER=wasm-hs256 (or wasm-hello) measures a start-up floor instead of ours (bench/wasm-floor).
set -euo pipefail
cd "$(dirname "$0")/../.."
REQ="${1:-hs256}" TOP="${2:-25}" WORKER="${WORKER:-edge}"
OUT=bench/out
WORKERD=node_modules/@cloudflare/workerd-linux-64/bin/workerd
[ -f "$OUT/startup-$WORKER.capnp" ] || { echo "run bench/run.sh first ($OUT/startup-$WORKER.capnp missing)" >&2; exit 1; }
PORT="$(node -e 'process.stdout.write(String(require("./bench/out/ports.json").edge))')"
CFG="$OUT/perf-map.capnp"
sed 's#^const config :Workerd.Config = (#const config :Workerd.Config = (\n  v8Flags = ["--perf-basic-prof"],#' "$OUT/startup-$WORKER.capnp" > "$CFG"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP" "$CFG"' EXIT
hdr=(); while IFS= read -r l; do [ -n "$l" ] && hdr+=(-H "$l"); done < "$OUT/req/$REQ.headers"
"$WORKERD" serve "$CFG" >/dev/null 2>&1 & pid=$!
for _ in $(seq 500); do (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.01; done
sleep 0.3
cp "/tmp/perf-$pid.map" "$TMP/before.map"
curl -s -o /dev/null -w "first request: %{http_code} in %{time_total}s\n" "${hdr[@]}" "http://127.0.0.1:$PORT/api/items"
sleep 0.2
cp "/tmp/perf-$pid.map" "$TMP/after.map"
kill "$pid"; wait "$pid" 2>/dev/null || true; rm -f "/tmp/perf-$pid.map"
python3 - "$TMP" "$TOP" <<'PY'
import collections, re, sys
tmp, top = sys.argv[1], int(sys.argv[2])
before = set(open(f"{tmp}/before.map").read().splitlines())
new = [l.split(" ", 2) for l in open(f"{tmp}/after.map").read().splitlines() if l not in before]
wasm = [(int(size, 16), name[3:] if name.startswith("JS:") else name) for _, size, name in new if "liftoff" in name]
js = [(int(size, 16), name) for _, size, name in new if "liftoff" not in name]
print(f"compiled by the first request: {len(wasm)} wasm functions, {sum(s for s, _ in wasm) / 1024:.0f} KiB Liftoff code; "
      f"{len(js)} JS code objects, {sum(s for s, _ in js) / 1024:.0f} KiB")
by = collections.Counter(); count = collections.Counter()
for size, name in wasm:
    m = re.match(r"[<&\s]*(?:mut )?([A-Za-z_0-9]+)(?:\[[0-9a-f]+\])?::([A-Za-z_0-9]+)", name)
    key = f"{m.group(1)}::{m.group(2)}" if m else re.sub(r"-\d+-liftoff$", "", name)[:48]
    by[key] += size; count[key] += 1
print("by module:")
for key, size in by.most_common(top):
    print(f"  {size / 1024:6.1f} KiB  {count[key]:4d} fns  {key}")
print("largest functions:")
for size, name in sorted(wasm, reverse=True)[:top]:
    print(f"  {size / 1024:6.1f} KiB  {re.sub(r'-[0-9]+-liftoff$', '', name)[:120]}")
PY

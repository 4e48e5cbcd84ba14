#!/usr/bin/env bash
# What forwarding costs in workerd before any auth, measured side by side in one workerd:
#   proxy     JS pass-through (bench/workers/proxy.js)            — the "no auth" comparison
#   proxyid   + copies the headers and sets 9 constant identity headers (what any edge adding identity pays)
#   mimic     + everything edge-auth's entry.js does in JS (header names, plan split, AbortSignal timeout,
#               log line, response rewrap), with constant values instead of the wasm calls
#   proxyb / proxyidb  the same two over a service binding instead of a loopback socket
# Usage: bash bench/experiments/floor.sh [rounds] [secs]   (after one bench/run.sh for the origin stub)
set -euo pipefail
cd "$(dirname "$0")"
ROOT="$(cd ../../.. && pwd)"; ROUNDS="${1:-2}"; SECS="${2:-3}"
OUT="$ROOT/bench/out/floor"; mkdir -p "$OUT"
cp ./*.js "$OUT/"; cp "$ROOT/bench/workers/proxy.js" "$OUT/proxy.js"; cp "$ROOT/bench/workers/origin.js" "$OUT/origin.js"
w() { echo "(name = \"$1\", worker = (modules = [(name = \"w.js\", esModule = embed \"$1.js\")], bindings = [$2], globalOutbound = \"loopback\", compatibilityDate = \"2026-04-01\")),"; }
U='(name = "ORIGIN_URL", text = "http://127.0.0.1:18990")'; B='(name = "ORIGIN", service = "origin")'
cat > "$OUT/floor.capnp" <<CAPNP
using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    $(w proxy "$U") $(w proxyid "$U") $(w mimic "$U") $(w proxyb "$B") $(w proxyidb "$B")
    (name = "origin", worker = (modules = [(name = "w.js", esModule = embed "origin.js")], compatibilityDate = "2026-04-01")),
    (name = "loopback", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [
    (name = "a", address = "127.0.0.1:18980", http = (), service = "proxy"),
    (name = "b", address = "127.0.0.1:18981", http = (), service = "proxyid"),
    (name = "c", address = "127.0.0.1:18985", http = (), service = "mimic"),
    (name = "d", address = "127.0.0.1:18983", http = (), service = "proxyb"),
    (name = "e", address = "127.0.0.1:18984", http = (), service = "proxyidb"),
    (name = "o", address = "127.0.0.1:18990", http = (), service = "origin"),
  ],
);
CAPNP
"$ROOT/node_modules/.bin/workerd" serve "$OUT/floor.capnp" > "$OUT/workerd.log" 2>&1 &
WD=$!; trap 'kill $WD 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/18990) 2>/dev/null && break; sleep 0.05; done
for r in $(seq 1 "$ROUNDS"); do
  for t in "proxy 18980/api/items" "proxyid 18981/api/items" "mimic 18985/api/items?v=sld" "proxyb 18983/api/items" "proxyidb 18984/api/items"; do
    set -- $t
    printf 'round %s %-9s %s\n' "$r" "$1" "$(wrk -t1 -c8 -d"${SECS}s" "http://127.0.0.1:$2" | awk '/Requests\/sec/{print $2}') req/s"
  done
done

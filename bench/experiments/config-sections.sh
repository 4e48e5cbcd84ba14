#!/usr/bin/env bash
# What each configuration section costs a fresh isolate (issue 23): the benchmark's edge configuration
# (bench/out/startup-edge.capnp, build/ as the Worker) with sections removed — the webhook, the rate
# limit, the asymmetric keys, all three — one fresh workerd process each under callgrind, V8
# --single-threaded, counted as bench/icount/startup.sh counts (start → accepting, then one HS256
# request → forward). Prints millions of instructions per phase. ~10 s per variant.
#   bash bench/experiments/config-sections.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"; cd "$ROOT"
source scripts/lib.sh
command -v valgrind >/dev/null || die "valgrind not found (bench/icount/startup.sh installs it)"
bash bench/experiments/startup-ab.sh --configs-only now=build >/dev/null
# The variants sit next to startup-edge.capnp: capnp reads `embed` paths relative to the config file.
OUT=bench/out WORK="$(mktemp -d)"; trap 'rm -rf "$WORK" "$OUT"/config-section-*.capnp' EXIT
PORT="$(node -e 'process.stdout.write(String(require("./bench/out/ports.json").edge))')"
WORKERD=node_modules/@cloudflare/workerd-linux-64/bin/workerd
VARIANTS="$(python3 - "$OUT/startup-edge.capnp" "$OUT" <<'PY'
import json, re, sys
src = open(sys.argv[1]).read()
def var(s, name):
    m = re.search(r'\(name = "%s", text = ("(?:[^"\\]|\\.)*")\)' % name, s)
    if not m:
        sys.exit(f"{name} is not a text binding of {sys.argv[1]}")
    return m, json.loads(json.loads(m.group(1)))
def setvar(s, name, value):
    m, _ = var(s, name)
    return s[:m.start()] + '(name = "%s", text = %s)' % (name, json.dumps(json.dumps(value))) + s[m.end():]
def drop(s, name):
    m, _ = var(s, name)
    e = m.end() + (1 if s[m.end()] == "," else 0)
    return s[:m.start()] + s[e:]
_, routes = var(src, "ROUTES")
_, issuers = var(src, "ISSUERS")
hs_only = [dict(i, jwks={"keys": [k for k in i["jwks"]["keys"] if k.get("kty") == "oct"]}) for i in issuers]
v = {"full": src}
v["no-webhook"] = drop(setvar(src, "ROUTES", [r for r in routes if r["id"] != "stripe"]), "WEBHOOK_STRIPE")
v["no-rate-limit"] = drop(setvar(src, "ROUTES", [r for r in routes if r["id"] != "limited"]), "RATE_LIMITS")
v["hs256-key-only"] = setvar(src, "ISSUERS", hs_only)
v["minimal"] = setvar(drop(drop(setvar(src, "ROUTES", [r for r in routes if r["id"] == "api"]), "WEBHOOK_STRIPE"),
                           "RATE_LIMITS"), "ISSUERS", hs_only)
for k, text in v.items():
    text = text.replace("const config :Workerd.Config = (", 'const config :Workerd.Config = (\n  v8Flags = ["--single-threaded"],', 1)
    open(f"{sys.argv[2]}/config-section-{k}.capnp", "w").write(text)
print(" ".join(v))
PY
)"
total() { grep -h -m1 '^summary:\|^totals:' "$1" | awk '{printf "%.1f", $2 / 1e6}'; }
step "icount: a fresh isolate per configuration (millions of instructions)"
echo "| configuration | start → accepting M | first request M | status |"
echo "| --- | ---: | ---: | --- |"
for w in $VARIANTS; do
  cg="$WORK/cg-$w.out"
  valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file="$cg" "$WORKERD" serve "$OUT/config-section-$w.capnp" >"$WORK/$w.log" 2>&1 &
  vp=$!
  for _ in $(seq 1 600); do
    kill -0 "$vp" 2>/dev/null || { cat "$WORK/$w.log" >&2; die "workerd exited ($w)"; }
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.2
  done
  callgrind_control -d "$vp" >/dev/null 2>&1
  hdr=(); while IFS= read -r l; do [ -n "$l" ] && hdr+=(-H "$l"); done <"$OUT/req/hs256.headers"
  st="$(curl -s -o /dev/null -w '%{http_code}' --max-time 120 "${hdr[@]}" "http://127.0.0.1:$PORT/api/items")"
  sleep 1
  callgrind_control -d "$vp" >/dev/null 2>&1
  kill "$vp" 2>/dev/null; wait "$vp" 2>/dev/null || true
  echo "| $w | $(total "$cg.1") | $(total "$cg.2") | $st |"
done

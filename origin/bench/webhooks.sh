#!/usr/bin/env bash
# Measures webhook deliveries/s accepted (stored, 202) by a release origin on 127.0.0.1.
#   origin/bench/webhooks.sh [sqlite|postgres] [connections] [seconds] [workers]
# `workers` is WEBHOOK_WORKERS (default 2: the processor runs during the measurement, marking
# the events `ignored`; 0: receive only). Every request is a new Stripe event id with its own
# envelope HMAC (src/envelope.rs canonical string), computed by python3 for the whole run just
# before wrk replays them (so the client's signing cost is not in the measurement). 1 KiB body.
# Needs wrk and python3; build first: cargo build --release -p edge-auth-origin.
set -euo pipefail
cd "$(dirname "$0")/../.."
BACKEND="${1:-sqlite}"; CONNS="${2:-16}"; SECS="${3:-10}"; WORKERS="${4:-2}"
THREADS=$(( CONNS < 4 ? CONNS : 4 ))
BIN="${CARGO_TARGET_DIR:-target}/release/edge-auth-origin"
WORK="$(mktemp -d /tmp/edge-auth-bench.XXXXXX)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export ENVELOPE_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export KEY_ENCRYPTION_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
# Signatures are made before the run: let them live for its length.
export ENVELOPE_MAX_AGE_SECS=$(( SECS + 120 ))
export ORIGIN_ADDR="127.0.0.1:$PORT" DATA_DIR="$WORK/data" LOG=warn WEBHOOK_WORKERS="$WORKERS"
if [ "$BACKEND" = postgres ]; then
  BASE_URL="$(scripts/pg-test-server.sh start)"
  DB="bench_wh_$(date +%s)"
  psql_bin=$(ls -d /usr/lib/postgresql/*/bin | head -1)
  "$psql_bin/psql" -q "$BASE_URL" -c "CREATE DATABASE $DB"
  export DATABASE_URL="${BASE_URL%/*}/$DB"
fi
"$BIN" serve 2>"$WORK/origin.log" & PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
# Enough distinct deliveries for 40k/s over the run; beyond that wrk wraps (→ 200 duplicate).
python3 - "$WORK" "$(( SECS * 40000 ))" <<'PY'
import hmac, hashlib, json, os, sys, time, secrets
work, n = sys.argv[1], int(sys.argv[2])
key = bytes.fromhex(os.environ["ENVELOPE_SECRET"])
t = int(time.time())
run = secrets.token_hex(4)
path = "/webhooks/stripe"
with open(f"{work}/deliveries", "w") as f:
    for i in range(n):
        eid = f"evt_{run}_{i}"
        # Canonical envelope: domain, t, method, path, then x-auth-* headers sorted by name.
        msg = (f"edge-auth-envelope-v1\n{t}\nPOST\n{path}\n"
               f"x-auth-webhook-id:{eid}\nx-auth-webhook-provider:stripe\nx-auth-webhook-timestamp:{t}\n")
        f.write(f"{eid} {t} t={t},v1={hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()}\n")
body = json.dumps({"id": "EVENT_ID", "object": "event", "type": "invoice.paid", "created": t,
                   "data": {"object": {"id": "in_1", "object": "invoice", "pad": ""}}})
body = body.replace('"pad": ""', '"pad": "' + "x" * (1024 - len(body)) + '"')
open(f"{work}/body.json", "w").write(body)
PY
DELIVERIES_FILE="$WORK/deliveries" BODY_FILE="$WORK/body.json" PROVIDER=stripe THREADS="$THREADS" \
  wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" --latency -s origin/bench/webhooks.lua "http://127.0.0.1:$PORT/"
count() { curl -fs "http://127.0.0.1:$PORT/metrics" | awk -v m="origin_webhooks_$1_total" 'index($0, m "{") == 1 {s += $2} END {print s + 0}'; }
echo "received: $(count received)  duplicates: $(count duplicates)  processed (ignored) during the run: $(count ignored)"
if [ "$WORKERS" -gt 0 ]; then
  # The backlog drains once the load stops: the processor's own rate (claim + finish per event).
  before=$(count ignored); sleep 5; after=$(count ignored)
  echo "processor drain rate without load: $(( (after - before) / 5 )) events/s"
fi
echo "backend=$BACKEND connections=$CONNS threads=$THREADS seconds=$SECS webhook_workers=$WORKERS"

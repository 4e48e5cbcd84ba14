#!/usr/bin/env bash
# Measures refresh-token rotations per second against a release origin on 127.0.0.1.
#   origin/bench/refresh.sh [sqlite|postgres] [threads] [seconds]
# postgres uses scripts/pg-test-server.sh. Needs wrk and python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
BACKEND="${1:-sqlite}"; THREADS="${2:-4}"; SECS="${3:-20}"
BIN="${CARGO_TARGET_DIR:-target}/release/edge-auth-origin"
WORK="$(mktemp -d /tmp/edge-auth-bench.XXXXXX)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export ENVELOPE_SECRET="$SECRET" KEY_ENCRYPTION_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export ORIGIN_ADDR="127.0.0.1:$PORT" DATA_DIR="$WORK/data" LOG=warn
if [ "$BACKEND" = postgres ]; then
  BASE_URL="$(scripts/pg-test-server.sh start)"
  DB="bench_$(date +%s)"
  psql_bin=$(ls -d /usr/lib/postgresql/*/bin | head -1)
  "$psql_bin/psql" -q "$BASE_URL" -c "CREATE DATABASE $DB"
  export DATABASE_URL="${BASE_URL%/*}/$DB"
fi
"$BIN" serve 2>"$WORK/origin.log" & PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
python3 - "$PORT" "$THREADS" "$WORK" <<'PY'
import hmac, hashlib, json, os, sys, time, urllib.request
port, n, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
key = bytes.fromhex(os.environ["ENVELOPE_SECRET"])
def sig(method, path):
    t = int(time.time())
    msg = f"edge-auth-envelope-v1\n{t}\n{method}\n{path}\n".encode()
    return f"t={t},v1=" + hmac.new(key, msg, hashlib.sha256).hexdigest()
def post(path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "x-auth-signature": sig("POST", path)})
    return json.load(urllib.request.urlopen(req))
tokens = []
for i in range(n):
    email, pw = f"bench{i}@example.com", "bench password long enough 1"
    post("/auth/signup", {"email": email, "password": pw})
    tokens.append(post("/auth/login", {"email": email, "password": pw})["refresh_token"])
open(f"{work}/tokens", "w").write("\n".join(tokens) + "\n")
open(f"{work}/sig", "w").write(sig("POST", "/auth/refresh"))
PY
# One signature stays valid for the envelope's 60 s window: keep runs shorter than that.
TOKENS_FILE="$WORK/tokens" ENVELOPE_SIG="$(cat "$WORK/sig")" \
  wrk -t"$THREADS" -c"$THREADS" -d"${SECS}s" --latency -s origin/bench/refresh.lua "http://127.0.0.1:$PORT/auth/refresh"
echo "backend=$BACKEND threads=$THREADS"

#!/usr/bin/env bash
# Runs the whole system locally: the origin (native, SQLite in ./data) on 127.0.0.1:8788 and
# the edge Worker in workerd (`wrangler dev`) on 127.0.0.1:8787. Ctrl-C stops both.
source "$(dirname "$0")/lib.sh"
bash scripts/setup.sh
bash scripts/build.sh
bash scripts/secrets.sh

ORIGIN_PORT="${ORIGIN_PORT:-8788}"
EDGE_PORT="${EDGE_PORT:-8787}"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

wait_http() { # url name log
  for _ in $(seq 1 240); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.5; done
  echo "--- last lines of $3 ---"; tail -n 30 "$3"; die "$2 did not come up at $1"
}

# Local identity providers (tests/providers/): "Sign in with Google/GitHub/Kakao" works offline.
GOOGLE_PORT="${GOOGLE_PORT:-8790}"; KAKAO_PORT="${KAKAO_PORT:-8791}"; GITHUB_PORT="${GITHUB_PORT:-8792}"
step "providers: Google-like :$GOOGLE_PORT, Kakao-like :$KAKAO_PORT, GitHub stand-in :$GITHUB_PORT"
PROVIDER_SECRET="$(openssl rand -hex 16)"
coproc PROVIDERS { exec node tests/providers/start.mjs --google-port "$GOOGLE_PORT" --kakao-port "$KAKAO_PORT" \
  --github-port "$GITHUB_PORT" --public-url "http://127.0.0.1:$EDGE_PORT" --client-id edge-auth-local \
  --client-secret "$PROVIDER_SECRET" 2> data/providers.log; }
pids+=($PROVIDERS_PID)
read -r -t 30 provider_urls <&"${PROVIDERS[0]}" || { tail -n 20 data/providers.log; die "local providers did not start"; }
export PUBLIC_URL="http://127.0.0.1:$EDGE_PORT" SOCIAL_ALLOW_HTTP=true
for p in GOOGLE KAKAO GITHUB; do export "${p}_CLIENT_ID=edge-auth-local" "${p}_CLIENT_SECRET=$PROVIDER_SECRET"; done
export GOOGLE_ISSUER="http://127.0.0.1:$GOOGLE_PORT" KAKAO_ISSUER="http://127.0.0.1:$KAKAO_PORT" \
  KAKAO_API_URL="http://127.0.0.1:$KAKAO_PORT" GITHUB_AUTHORIZE_URL="http://127.0.0.1:$GITHUB_PORT/login/oauth/authorize" \
  GITHUB_TOKEN_URL="http://127.0.0.1:$GITHUB_PORT/login/oauth/access_token" GITHUB_API_URL="http://127.0.0.1:$GITHUB_PORT"

step "origin: starting on 127.0.0.1:$ORIGIN_PORT (SQLite in ./data)"
set -a; source data/dev.env; set +a
# Passkeys need a host name as the relying-party id (browsers refuse 127.0.0.1): use the pages at
# http://localhost:$EDGE_PORT for them.
ORIGIN_ADDR="127.0.0.1:$ORIGIN_PORT" DATA_DIR="$ROOT/data" ISSUER="http://127.0.0.1:$ORIGIN_PORT" \
  WEBAUTHN_RP_ID="${WEBAUTHN_RP_ID:-localhost}" WEBAUTHN_ORIGINS="${WEBAUTHN_ORIGINS:-http://localhost:$EDGE_PORT}" \
  target/release/edge-auth-origin serve > data/origin.log 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$ORIGIN_PORT/healthz" origin data/origin.log

step "edge: starting wrangler dev (workerd) on 127.0.0.1:$EDGE_PORT"
wrangler dev --ip 127.0.0.1 --port "$EDGE_PORT" --show-interactive-dev-session=false --log-level log \
  --var "ORIGIN_URL:http://127.0.0.1:$ORIGIN_PORT" > data/edge.log 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$EDGE_PORT/healthz" edge data/edge.log

token=$(.venv/bin/python scripts/mint_token.py --sub demo-user)
cat <<MSG

edge-auth is running.
  edge (all traffic):   http://127.0.0.1:$EDGE_PORT
  origin (behind it):   http://127.0.0.1:$ORIGIN_PORT   (refuses requests without the edge's signature)
  pages:                http://127.0.0.1:$EDGE_PORT/login   /signup   /account   /sessions   /admin
  social sign-in:       local providers $provider_urls
                        (any login + any password; a login starting with "unverified" has an unverified e-mail)
                        (passkeys: http://localhost:$EDGE_PORT/login — the relying party is "localhost")
  logs:                 data/edge.log  data/origin.log  data/providers.log

Try it:
  curl -s http://127.0.0.1:$EDGE_PORT/api/me                       # 401 token_missing
  curl -s -H "Authorization: Bearer $token" \\
       http://127.0.0.1:$EDGE_PORT/api/me                          # the identity the origin saw
  curl -s -H "X-Auth-User: admin" http://127.0.0.1:$EDGE_PORT/api/me  # spoofed header: stripped, 401
  curl -s http://127.0.0.1:$ORIGIN_PORT/api/me                     # straight to the origin: 403

  A fresh demo token:   .venv/bin/python scripts/mint_token.py --sub alice --perm rbac:admin
  A real account:       curl -s -X POST -H 'content-type: application/json' \\
                          -d '{"email":"you@example.com","password":"a long passphrase 123"}' \\
                          http://127.0.0.1:$EDGE_PORT/auth/signup

Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}"

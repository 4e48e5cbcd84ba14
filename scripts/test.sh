#!/usr/bin/env bash
# Runs every test: unit and integration tests (native), the origin suite on SQLite and on a real
# PostgreSQL, then the end-to-end suite against the real Worker in workerd and the real origin.
source "$(dirname "$0")/lib.sh"
bash scripts/setup.sh

failures=()
run() { # name, command...
  local name="$1"; shift
  step "test: $name"
  if "$@"; then note "ok: $name"; else failures+=("$name"); note "FAILED: $name"; fi
}

run "native unit + integration tests (edge core, origin on SQLite)" cargo test --workspace --quiet
run "fuzz: every target for 5 s from its seeds (scripts/fuzz.sh all 5)" bash scripts/fuzz.sh all 5
run "plan protocol and call frame: golden encodings against the Worker's JS side" node --test tests/js/

step "postgres: starting a throwaway server on 127.0.0.1"
bash scripts/pg-test-server.sh start >/dev/null
# Over TLS, verifying the server's certificate against the throwaway CA (as in production).
PG_URL="$(bash scripts/pg-test-server.sh tls-url)"
note "$PG_URL"
trap 'bash scripts/pg-test-server.sh stop >/dev/null 2>&1 || true' EXIT
run "origin suite on PostgreSQL (TLS, verify-full)" env TEST_DATABASE_URL="$PG_URL" cargo test -p edge-auth-origin --quiet

bash scripts/build.sh
run "end-to-end: Worker in workerd + origin (pytest)" .venv/bin/python -m pytest -q tests/e2e
# Three origin processes on one (separate) PostgreSQL behind nginx, the Worker in front: checks
# 1–4 and a SIGTERM rolling restart. The rolling upgrade across a migration and the wrk figures
# are in the full `scripts/scale-test.sh`.
run "scale: 3 origins, 1 PostgreSQL, nginx, Worker (scripts/scale-test.sh --short)" bash scripts/scale-test.sh --short

# The shipped production environment, with example public URLs in place of its placeholders:
# the bundle wrangler would upload, its bindings, and the Worker's parser on its vars.
EXAMPLE_ISSUERS='[{"issuer":"https://origin.example.com","audiences":["edge-auth"],"jwks_url":"https://origin.example.com/.well-known/jwks.json"}]'
run "deploy check: wrangler dry run of env.production" bash scripts/deploy-check.sh --env production \
  --var ORIGIN_URL:https://origin.example.com --var "ISSUERS:$EXAMPLE_ISSUERS"
run "deploy check refusals (pytest)" .venv/bin/python -m pytest -q tests/deploy

step "summary"
if [ ${#failures[@]} -gt 0 ]; then
  printf '    failed: %s\n' "${failures[@]}"
  exit 1
fi
note "all test stages passed"

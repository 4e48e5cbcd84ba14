#!/usr/bin/env bash
# Many origins, one database (issue 22, part 4): three real origin processes on one throwaway
# PostgreSQL, real nginx load-balancing them, the real Worker in workerd (`wrangler dev`) in front.
#   scripts/scale-test.sh           all checks, the rolling upgrade across migration 0003, and
#                                   throughput/p99 with 1 and 3 processes (wrk, ~1 min of load)
#   scripts/scale-test.sh --short   the checks and a SIGTERM rolling restart of this commit's binary
#                                   (no old binary to build, no throughput runs): ~2 minutes
# Only 127.0.0.1, only ports 28820–28839 (28820 nginx, 28821 Worker, 28822 its inspector,
# 28823–28825 origins) plus the PostgreSQL server's own free port. Every process started here is
# stopped on exit; each phase has its own time bound.
source "$(dirname "$0")/lib.sh"

SHORT=0
case "${1:-}" in
  --short) SHORT=1 ;;
  "") ;;
  *) die "usage: $0 [--short]" ;;
esac

# The origin of the commit before migration 0003 (the revocation feed's commit order) existed:
# the rolling upgrade starts on it and ends on this commit's binary.
OLD_COMMIT=7c5ac22
OLD_DIR="$ROOT/target/scale-old"
OLD_BIN="$OLD_DIR/edge-auth-origin-$OLD_COMMIT"
export PG_TEST_DIR=/tmp/edge-auth-pg-scale
SCALE_TMP="$(mktemp -d /tmp/edge-auth-scale.XXXXXX)"
export SCALE_TMP SCALE_SHORT=$SHORT

bash scripts/setup.sh
command -v nginx >/dev/null || PATH="$PATH:/usr/sbin"
command -v nginx >/dev/null || die "nginx not found (scripts/setup.sh installs it from Debian)"
command -v wrk >/dev/null || die "wrk not found (scripts/setup.sh installs it from Debian)"

cleanup() {
  local rc=$?
  # Exactly the processes this run started (each its own process group), then the database.
  if [ -f "$SCALE_TMP/pids" ]; then
    while read -r pid; do kill -KILL -- "-$pid" 2>/dev/null || true; done < "$SCALE_TMP/pids"
  fi
  bash scripts/pg-test-server.sh stop >/dev/null 2>&1 || true
  if [ "$rc" = 0 ] && [ -z "${SCALE_KEEP:-}" ]; then rm -rf "$SCALE_TMP"; else note "logs kept in $SCALE_TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for port in $(seq 28820 28825); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then die "port $port on 127.0.0.1 is busy"; fi
done

bash scripts/build.sh
if [ "$SHORT" = 1 ]; then
  note "--short: no rolling upgrade across migration 0003 (it needs the $OLD_COMMIT origin built); the full run has it"
elif [ ! -x "$OLD_BIN" ]; then
  step "build: the origin of $OLD_COMMIT (before migration 0003), once; cached in $OLD_BIN"
  rm -rf "$OLD_DIR/src" && mkdir -p "$OLD_DIR/src"
  git archive "$OLD_COMMIT" | tar -x -C "$OLD_DIR/src"
  (cd "$OLD_DIR/src" && CARGO_TARGET_DIR="$OLD_DIR/target" timeout 1800 cargo build --release --quiet -p edge-auth-origin) \
    || die "building the $OLD_COMMIT origin failed"
  cp "$OLD_DIR/target/release/edge-auth-origin" "$OLD_BIN"
fi
if [ "$SHORT" = 0 ]; then
  [ ! -e "$OLD_DIR/src/origin/migrations/postgres/0003_revocation_commit_order.sql" ] \
    || die "$OLD_DIR/src already has migration 0003: not the commit before it"
fi

step "postgres: a throwaway server for the scale test ($PG_TEST_DIR)"
SCALE_DATABASE_URL="$(bash scripts/pg-test-server.sh start)"
export SCALE_DATABASE_URL SCALE_ORIGIN_BIN="$ROOT/target/release/edge-auth-origin" SCALE_OLD_ORIGIN_BIN="$OLD_BIN"
note "$SCALE_DATABASE_URL"

modules=(tests/scale/test_a_cross_process.py tests/scale/test_b_rolling_upgrade.py)
[ "$SHORT" = 1 ] || modules+=(tests/scale/test_c_throughput.py)
step "scale test: ${modules[*]##*/}"
start=$(date +%s)
# In the background and waited for, so that INT/TERM reach the trap at once (bash runs traps only
# between foreground commands); the EXIT trap then stops every process the test started.
timeout --signal=INT $(( SHORT == 1 ? 900 : 1500 )) \
  .venv/bin/python -m pytest -q -s -p no:cacheprovider -c tests/scale/pytest.ini "${modules[@]}" &
TEST_PID=$!
trap 'kill -TERM "$TEST_PID" 2>/dev/null; exit 130' INT TERM
rc=0; wait "$TEST_PID" || rc=$?
[ "$rc" = 0 ] || die "scale test failed (exit $rc) after $(( $(date +%s) - start )) s"
note "scale test passed in $(( $(date +%s) - start )) s"

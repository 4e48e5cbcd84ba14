#!/usr/bin/env bash
# A throwaway PostgreSQL for the origin's test suite: Debian's server binaries, run as an
# unprivileged user, data dir under /tmp, listening only on 127.0.0.1 on a free port.
#   scripts/pg-test-server.sh start   # starts (idempotent) and prints the DATABASE_URL
#   scripts/pg-test-server.sh url     # prints the DATABASE_URL of the running server
#   scripts/pg-test-server.sh tls-url # the same over TLS, verifying the server's certificate
#                                     # (a throwaway CA made at start; sslmode=verify-full)
#   scripts/pg-test-server.sh stop    # stops it and deletes the data dir
set -euo pipefail

BASE="${PG_TEST_DIR:-/tmp/edge-auth-pg-test}"
DATA="$BASE/data"
PORT_FILE="$BASE/port"
DB="edge_auth_test"

find_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  return 1
}

BIN="$(find_bin || true)"
if [ -z "$BIN" ] && [ "${1:-}" = start ]; then
  echo "pg-test-server: installing postgresql from Debian's packages" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) >&2
  BIN="$(find_bin)"
fi

# initdb and postgres refuse to run as root: use an unprivileged account.
RUN_AS=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir "$BASE" --shell /usr/sbin/nologin postgres
  RUN_AS=(runuser -u postgres --)
fi

url() { echo "postgres://edge_auth@127.0.0.1:$(cat "$PORT_FILE")/$DB"; }
tls_url() { echo "$(url)?sslmode=verify-full&sslrootcert=$BASE/tls/ca.crt"; }

# A CA and a server certificate for 127.0.0.1 (an IP SAN), so clients can verify the server.
make_tls() {
  local d="$BASE/tls"
  mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=edge-auth test CA" \
    -keyout "$d/ca.key" -out "$d/ca.crt" >/dev/null 2>&1
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$d/server.key" -out "$d/server.csr" >/dev/null 2>&1
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$d/ext.cnf"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
    -extfile "$d/ext.cnf" -out "$d/server.crt" >/dev/null 2>&1
  chmod 600 "$d/server.key"
  [ "$(id -u)" = 0 ] && chown -R postgres "$d"
  chmod 644 "$d/ca.crt"
}

running() { [ -f "$PORT_FILE" ] && [ -f "$DATA/postmaster.pid" ] && "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

free_port() {
  python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

case "${1:-}" in
  start)
    if running; then url; exit 0; fi
    rm -rf "$BASE"
    mkdir -p "$BASE"
    [ "$(id -u)" = 0 ] && chown postgres "$BASE"
    PORT="$(free_port)"
    echo "$PORT" > "$PORT_FILE"
    "${RUN_AS[@]}" "$BIN/initdb" -D "$DATA" -U edge_auth --auth=trust --no-sync -E UTF8 >"$BASE/initdb.log" 2>&1 \
      || { cat "$BASE/initdb.log" >&2; exit 1; }
    make_tls || { echo "pg-test-server: openssl could not make the TLS certificates" >&2; exit 1; }
    # Throwaway: durability off, only loopback, socket in the data dir; TLS offered (not forced).
    "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DATA" -l "$BASE/server.log" -w -t 30 start \
      -o "-c listen_addresses=127.0.0.1 -p $PORT -k $BASE -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c ssl=on -c ssl_cert_file=$BASE/tls/server.crt -c ssl_key_file=$BASE/tls/server.key" >/dev/null \
      || { cat "$BASE/server.log" >&2; exit 1; }
    "${RUN_AS[@]}" "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U edge_auth "$DB"
    url
    ;;
  url)
    running || { echo "pg-test-server: not running (run: $0 start)" >&2; exit 1; }
    url
    ;;
  tls-url)
    running || { echo "pg-test-server: not running (run: $0 start)" >&2; exit 1; }
    tls_url
    ;;
  stop)
    if running; then "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null; fi
    rm -rf "$BASE"
    ;;
  *)
    echo "usage: $0 start|stop|url|tls-url" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Installs everything the project needs on a fresh machine of this kind, idempotently.
# Every step is skipped when already done, so re-running is fast.
source "$(dirname "$0")/lib.sh"

# wasm-bindgen-cli must match the wasm-bindgen library version in Cargo.lock exactly.
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/,""); print; exit}' Cargo.lock)"
[ -n "$WASM_BINDGEN_VERSION" ] || die "could not read the wasm-bindgen version from Cargo.lock"

need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
# The load balancer of the scale test (scripts/scale-test.sh), run unprivileged from a temp prefix.
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || need_apt+=(nginx)
[ -x /usr/lib/postgresql/15/bin/postgres ] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_apt+=(postgresql)
command -v chromium >/dev/null || need_apt+=(chromium)
# The deploy tests verify the origin's systemd unit; the PostgreSQL test server makes its TLS CA.
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
command -v openssl >/dev/null || need_apt+=(openssl)
# The origin's passkeys (webauthn-rs) link OpenSSL: its headers and pkg-config for openssl-sys.
dpkg -s libssl-dev >/dev/null 2>&1 || need_apt+=(libssl-dev)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
if [ ${#need_apt[@]} -gt 0 ]; then
  step "apt: installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "rustup: adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
  step "cargo: installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 3 minutes, once)"
  # Not --locked: its lockfile pins a webpki-roots release the registry mirror does not serve.
  cargo install -q wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# The fuzz targets (scripts/fuzz.sh, docs/FUZZING.md) build with cargo-fuzz on stable + RUSTC_BOOTSTRAP.
if ! command -v cargo-fuzz >/dev/null; then
  step "cargo: installing cargo-fuzz (about 2 minutes, once)"
  cargo install -q cargo-fuzz --locked
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "npm: installing wrangler/workerd and friends (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

if [ ! -x .venv/bin/python ] || [ tests/requirements.txt -nt .venv/.installed ]; then
  step "python: creating .venv with the end-to-end test tools"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
  touch .venv/.installed
fi

#!/usr/bin/env bash
# Builds the origin (native, release) and the Worker (wasm32, release) into build/.
source "$(dirname "$0")/lib.sh"

step "build: origin (native, release)"
cargo build --release --quiet -p edge-auth-origin || die "origin build failed (errors above)"

step "build: edge Worker (wasm32, release)"
# The same build wrangler runs ([build] in wrangler.toml), so `wrangler dev` finds it up to date.
mkdir -p target
if ! bash scripts/build-worker.sh > target/build-worker.log 2>&1; then
  tail -n 40 target/build-worker.log
  die "worker build failed (full log: target/build-worker.log)"
fi
wasm=build/index_bg.wasm
[ -f "$wasm" ] || wasm="$(ls build/*.wasm build/worker/*.wasm 2>/dev/null | head -1)"
[ -n "$wasm" ] && [ -f "$wasm" ] || die "worker build produced no wasm"
note "wasm: $(stat -c %s "$wasm") bytes raw, $(gzip -9c "$wasm" | wc -c) bytes gzip"

#!/usr/bin/env bash
# Builds the origin (native, release) and the Worker (wasm32, release) into build/.
source "$(dirname "$0")/lib.sh"

export WASM_BINDGEN_BIN="$(command -v wasm-bindgen)"
[ -x node_modules/@esbuild/linux-x64/bin/esbuild ] && export ESBUILD_BIN="$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild"

step "build: origin (native, release)"
cargo build --release -p edge-auth-origin 2>&1 | grep -vE '^\s+(Compiling|Fresh|Checking)' || true
[ -x target/release/edge-auth-origin ] || die "origin build failed"

step "build: edge Worker (wasm32, release)"
worker-build --release 2>&1 | grep -vE '^\s+(Compiling|Fresh)' | tail -n 5
wasm=build/index_bg.wasm
[ -f "$wasm" ] || wasm="$(ls build/*.wasm build/worker/*.wasm 2>/dev/null | head -1)"
[ -n "$wasm" ] && [ -f "$wasm" ] || die "worker build produced no wasm"
note "wasm: $(stat -c %s "$wasm") bytes raw, $(gzip -9c "$wasm" | wc -c) bytes gzip"

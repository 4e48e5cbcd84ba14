#!/usr/bin/env bash
# The Worker build that wrangler runs ([build] in wrangler.toml): worker-build with the
# locally installed wasm-bindgen and esbuild (nothing is downloaded from outside the registries).
source "$(dirname "$0")/lib.sh"
export WASM_BINDGEN_BIN="$(command -v wasm-bindgen)"
[ -x node_modules/@esbuild/linux-x64/bin/esbuild ] && export ESBUILD_BIN="$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild"
exec worker-build --release

#!/usr/bin/env bash
# The Worker build that wrangler runs ([build] in wrangler.toml): worker-build with the
# locally installed wasm-bindgen and esbuild (nothing is downloaded from outside the registries).
source "$(dirname "$0")/lib.sh"
export WASM_BINDGEN_BIN="$(command -v wasm-bindgen)"
[ -x node_modules/@esbuild/linux-x64/bin/esbuild ] && export ESBUILD_BIN="$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild"
# Size-optimised wasm: measured side by side (bench/run.sh, 2026-11-23) it is 208 KB gzip instead of
# 242 KB and starts ~10 ms faster, with req/s within the run-to-run noise of opt-level 3.
export CARGO_PROFILE_RELEASE_OPT_LEVEL="${CARGO_PROFILE_RELEASE_OPT_LEVEL:-s}"
exec worker-build --release

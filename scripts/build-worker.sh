#!/usr/bin/env bash
# The Worker build that wrangler runs ([build] in wrangler.toml), in four steps:
#   1. cargo → wasm32 (release, opt-level "z": 239 KB gzip uploaded vs 256 KB with "s" and ~290 KB
#      with 3, 2026-11-23; req/s within run-to-run noise — docs/PERFORMANCE.md);
#   2. wasm-bindgen (the version pinned in Cargo.lock, installed by scripts/setup.sh) → JS glue;
#   3. wasm-opt -O1, then inlining of functions with one caller up to 100 expressions and of any
#      up to 4 (binaryen from npm, pinned in package.json). -O1 alone: a fresh isolate costs 1.6 % fewer
#      instructions, the upload is 0.7 KB smaller gzipped (docs/PERFORMANCE.md, session 17). The
#      inlining: 6 % fewer again (84.1 → 79.1 M over the trivial Worker): each function a fresh
#      isolate compiles lazily costs a round trip of its own, and the module then has fewer of
#      them (session 20). -Os/-Oz/-O2/-O3 and larger limits start no faster and gzip larger, over
#      the 150 KB upload goal. WASM_OPT=0 skips the step (A/Bs);
#   4. esbuild bundles our entry module src/worker/entry.js with that glue into build/index.js.
# Our own entry instead of worker-build's shim: the shim wrapped every request in a class
# instance and Proxies, and routed everything through Rust's async executor; entry.js asks wasm
# for a plan synchronously (src/worker/fast.rs), performs every wait itself and calls back. The
# plan decoder (src/worker/plan.mjs) and the JS helpers (src/worker/glue.js) are bundled with it.
# Nothing is downloaded: wasm-bindgen comes from crates.io, esbuild from npm.
#
# The same steps build another cdylib of the workspace with its own entry module (bench/run.sh
# builds the wasm floor, bench/wasm-floor/, this way), set by environment variables:
#   PACKAGE (edge-auth), ENTRY (src/worker/entry.js), OUT_DIR (build); relative paths are from the repo root.
source "$(dirname "$0")/lib.sh"
ESBUILD="$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild"
[ -x "$ESBUILD" ] || ESBUILD="$(command -v esbuild || true)"
[ -n "$ESBUILD" ] || die "esbuild not found: run npm ci (or scripts/setup.sh)"
command -v wasm-bindgen >/dev/null || die "wasm-bindgen not found: run scripts/setup.sh"

PACKAGE="${PACKAGE:-edge-auth}"
ENTRY="${ENTRY:-src/worker/entry.js}"
OUT_DIR="${OUT_DIR:-build}"
[ -f "$ENTRY" ] || die "entry module $ENTRY not found"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$OUT_DIR" in /*) OUT="$OUT_DIR" ;; *) OUT="$ROOT/$OUT_DIR" ;; esac
STAGE="$OUT/.stage"
export CARGO_PROFILE_RELEASE_OPT_LEVEL="${CARGO_PROFILE_RELEASE_OPT_LEVEL:-z}"

# Panic locations name their source files: without the machine's registry and toolchain prefixes
# the module is the same wherever it is built, and 2.5 KB smaller (issue 23's upload budget).
remaps=(--remap-path-prefix="$ROOT/=")
for d in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/; do [ -d "$d" ] && remaps+=(--remap-path-prefix="$d="); done
commit="$(rustc -vV | sed -n 's/^commit-hash: //p')"
[ -n "$commit" ] && remaps+=(--remap-path-prefix="/rustc/$commit/library/=")
# LLVM's inliner at opt-level "z" inlines little (its threshold for minimum size is 5): a call it
# keeps is a function V8 compiles lazily on its own, at a fixed cost each. The final crate (where
# fat LTO optimises the whole module) is built with a threshold of 35: a fresh isolate costs 75.0 →
# 73.2 M instructions over the trivial Worker for +3.6 KB gzip. Only the final crate (`cargo rustc`'s
# arguments): the flag on every crate also lowers sha2's opt-level 3 threshold (225), and its
# rounds, no longer inlined, cost the Stripe row 1.040 a request against session 20's Worker
# (1.014 without the flag; docs/PERFORMANCE.md, session 21).
# INLINE=default leaves LLVM's own (A/Bs).
inline=(-C llvm-args=-inline-threshold="${INLINE:-35}"); [ "${INLINE:-}" = default ] && inline=()
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="${CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS:-} ${remaps[*]}"

echo "[1/4] cargo rustc --release --target wasm32-unknown-unknown (opt-level $CARGO_PROFILE_RELEASE_OPT_LEVEL, ${inline[*]:-the default inline threshold})"
cargo rustc --release --target wasm32-unknown-unknown --lib -p "$PACKAGE" -- "${inline[@]}"

echo "[2/4] wasm-bindgen $(wasm-bindgen --version | cut -d' ' -f2)"
rm -rf "$STAGE" && mkdir -p "$STAGE"
wasm-bindgen "$TARGET_DIR/wasm32-unknown-unknown/release/${PACKAGE//-/_}.wasm" --out-dir "$STAGE" \
  --out-name index --target module --no-typescript \
  --experimental-reset-state-function --force-enable-abort-handler

WASM_OPT_BIN="$ROOT/node_modules/binaryen/bin/wasm-opt"
if [ "${WASM_OPT:-1}" = 0 ]; then
  echo "[3/4] wasm-opt: skipped (WASM_OPT=0)"
else
  [ -x "$WASM_OPT_BIN" ] || die "wasm-opt not found at $WASM_OPT_BIN: run npm ci (or scripts/setup.sh)"
  echo "[3/4] wasm-opt -O1, one-caller inlining (binaryen $(node -p "require('$ROOT/node_modules/binaryen/package.json').version"))"
  # The features rustc and wasm-bindgen emit; binaryen's -all would also let it write encodings
  # (exact imports) that workerd's V8 refuses. -g keeps the name section of a names build.
  KEEP_NAMES=(); [ "${CARGO_PROFILE_RELEASE_STRIP:-}" = false ] && KEEP_NAMES=(-g)
  "$WASM_OPT_BIN" -O1 --inlining-optimizing --always-inline-max-function-size 4 \
    --flexible-inline-max-function-size 0 --one-caller-inline-max-function-size 100 \
    "${KEEP_NAMES[@]}" --enable-bulk-memory --enable-reference-types --enable-multivalue \
    --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int --enable-exception-handling \
    "$STAGE/index_bg.wasm" -o "$STAGE/index_bg.opt.wasm"
  mv "$STAGE/index_bg.opt.wasm" "$STAGE/index_bg.wasm"
fi

echo "[4/4] esbuild $ENTRY → $OUT_DIR/index.js"
cp "$ENTRY" "$STAGE/entry.js"
# The plan protocol's decoder, the call frame and the shared JS helpers sit next to the entry module (node's
# tests import them from there too).
for m in plan.mjs glue.js frame.mjs; do
  if grep -q "\"./$m\"" "$ENTRY"; then
    cp "$(dirname "$ENTRY")/$m" "$STAGE/$m"
  fi
done
# MINIFY=0 keeps JS names readable in CPU profiles (bench/cpuprofile.mjs).
MINIFY_FLAG=--minify; [ "${MINIFY:-1}" = 0 ] && MINIFY_FLAG=
"$ESBUILD" "$STAGE/entry.js" --bundle --format=esm $MINIFY_FLAG --log-level=warning \
  --external:./index_bg.wasm --external:'cloudflare:*' --outfile="$OUT/index.js" --allow-overwrite
# wasm-bindgen's module target imports the wasm as a source-phase import; workerd takes a plain one.
sed -i 's/import source /import /' "$OUT/index.js"
cp "$STAGE/index_bg.wasm" "$OUT/index_bg.wasm"
rm -rf "$STAGE" "$OUT/worker"
echo "built $OUT_DIR/index.js ($(stat -c %s "$OUT/index.js") B) + $OUT_DIR/index_bg.wasm ($(stat -c %s "$OUT/index_bg.wasm") B)"

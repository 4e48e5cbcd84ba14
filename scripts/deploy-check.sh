#!/usr/bin/env bash
# Checks that one wrangler environment would deploy and start, without deploying it:
#   scripts/deploy-check.sh --env production [--var NAME:VALUE ...] [--config-only]
#   1. `wrangler deploy --dry-run --env NAME --outdir target/deploy-check/NAME` (builds and bundles);
#   2. scripts/deploy_check.py: the environment's vars and bindings match the top level, Durable
#      Object migrations, rate-limit bindings, the bundle (wasm, exports, upload size), and the
#      Worker's own configuration parser on the environment's vars (production rules included),
#      which also writes the packed configuration to target/deploy-check/NAME.packed (deployed
#      as the variable EDGE_CONFIG_PACKED: a fresh isolate then skips the JSON parsers).
# The top level of wrangler.toml is local development and is refused. --var values are the ones
# you would give `wrangler deploy` (e.g. ORIGIN_URL while the file still has the placeholder).
source "$(dirname "$0")/lib.sh"

env_name="" config_only=0 vars=()
while [ $# -gt 0 ]; do
  case "$1" in
    --env) env_name="${2:-}"; shift 2 ;;
    --var) vars+=("$2"); shift 2 ;;
    --config-only) config_only=1; shift ;;
    *) die "unknown argument $1 (usage: deploy-check.sh --env NAME [--var NAME:VALUE ...] [--config-only])" ;;
  esac
done
[ -n "$env_name" ] || die "deploy-check: name an environment (--env production); the top level of wrangler.toml is for local development (wrangler dev) and is not deployed"

step "deploy check: env.$env_name"
cargo build --release --quiet --bin edge-config-check || die "cannot build edge-config-check"
args=(--env "$env_name")
for v in "${vars[@]}"; do args+=(--var "$v"); done
if [ "$config_only" = 0 ]; then
  out="$ROOT/target/deploy-check/$env_name"
  rm -rf "$out" && mkdir -p "$out"
  wargs=(deploy --dry-run --env "$env_name" --outdir "$out")
  for v in "${vars[@]}"; do wargs+=(--var "$v"); done
  note "wrangler ${wargs[*]}"
  if ! wrangler "${wargs[@]}" > "$out.log" 2>&1; then
    tail -n 30 "$out.log"; die "wrangler dry run failed (full log: $out.log)"
  fi
  grep -E "Total Upload|^env\." "$out.log" | sed 's/^/    /' || true
  args+=(--outdir "$out")
fi
python3 scripts/deploy_check.py "${args[@]}" || die "env.$env_name would not deploy cleanly (see FAIL lines above)"
packed="$ROOT/target/deploy-check/$env_name.packed"
if [ -s "$packed" ] && [ "$(wc -c < "$packed")" -le 5120 ]; then
  # The packed configuration (README "Configuration"): a fresh isolate reads it instead of
  # parsing the JSON variables, while they are the ones it was packed from.
  note "env.$env_name: ready to deploy: npx wrangler deploy --env $env_name --var EDGE_CONFIG_PACKED:\$(cat target/deploy-check/$env_name.packed)"
else
  note "env.$env_name: ready to deploy (npx wrangler deploy --env $env_name)"
fi

#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers (cargo-fuzz / libFuzzer, on the stable toolchain with
# RUSTC_BOOTSTRAP=1; see docs/FUZZING.md).
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer flags...]   one target
#   scripts/fuzz.sh all SECONDS [libFuzzer flags...]      every target, one after the other
#   scripts/fuzz.sh list                                  the targets
# Each run starts from the checked-in seeds (fuzz/seeds/TARGET) plus the local working corpus
# (fuzz/corpus/TARGET, not checked in), and prints one line: executions, coverage (cov/ft), time.
# A crash or property failure leaves its input in fuzz/artifacts/TARGET/ and fails the run.
# FUZZ_SANITIZER=address builds with ASan (default none: the parsers are safe Rust, and
# throughput matters more); debug assertions (integer overflow checks) are always on.
source "$(dirname "$0")/lib.sh"

targets() { sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^edge-auth-fuzz$'; }

[ $# -ge 1 ] || die "usage: scripts/fuzz.sh TARGET|all SECONDS [libFuzzer flags...] | list"
if [ "$1" = list ]; then targets; exit 0; fi
[ $# -ge 2 ] || die "usage: scripts/fuzz.sh TARGET|all SECONDS [libFuzzer flags...]"
which="$1" secs="$2"; shift 2
[[ "$secs" =~ ^[0-9]+$ ]] && [ "$secs" -gt 0 ] || die "SECONDS must be a positive whole number"
if [ "$which" = all ]; then
  mapfile -t run_targets < <(targets)
else
  targets | grep -qx "$which" || die "no fuzz target $which (scripts/fuzz.sh list)"
  run_targets=("$which")
fi

if ! command -v cargo-fuzz >/dev/null; then
  step "cargo: installing cargo-fuzz (about 2 minutes, once)"
  cargo install -q cargo-fuzz --locked
fi

# cargo-fuzz passes -Z flags (sanitizer coverage): RUSTC_BOOTSTRAP lets stable rustc take them.
export RUSTC_BOOTSTRAP=1
sanitizer="${FUZZ_SANITIZER:-none}"
step "fuzz: building ${#run_targets[@]} target(s) (sanitizer: $sanitizer)"
build_args=(-s "$sanitizer" -O -a)
if [ "$which" = all ]; then
  (cd fuzz && cargo fuzz build "${build_args[@]}" 2>&1 | grep -v '^ *Compiling' || true)
else
  (cd fuzz && cargo fuzz build "${build_args[@]}" "$which" 2>&1 | grep -v '^ *Compiling' || true)
fi
bin_dir="fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release"

failed=()
for t in "${run_targets[@]}"; do
  [ -x "$bin_dir/$t" ] || die "the build did not produce $bin_dir/$t"
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t" "fuzz/logs"
  log="fuzz/logs/$t.log"
  seeds=()
  [ -d "fuzz/seeds/$t" ] && seeds=("fuzz/seeds/$t")
  start=$(date +%s)
  if "$bin_dir/$t" -max_total_time="$secs" -print_final_stats=1 -timeout=10 \
      -artifact_prefix="fuzz/artifacts/$t/" "$@" "fuzz/corpus/$t" "${seeds[@]}" >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    failed+=("$t")
  fi
  took=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
  printf '    %-20s %-6s %12s execs  %-22s %5ss  (%s)\n' "$t" "$result" "${execs:-?}" "${cov:-cov: ?}" "$took" "$log"
  if [ "$result" != ok ]; then
    grep -m5 -E 'panicked|SUMMARY|Test unit written|ERROR' "$log" | sed 's/^/      /' || true
  fi
done
[ ${#failed[@]} -eq 0 ] || die "fuzz target(s) failed: ${failed[*]} (inputs in fuzz/artifacts/)"

#!/usr/bin/env bash
# Build the fuzz targets and run each on the seed corpus for a bounded time (CI's smoke run).
#
#   fuzz/smoke.sh [SECONDS_PER_TARGET]      # default 60
#
# Installs cargo-fuzz from crates.io when it is missing. Uses the nightly toolchain when rustup
# has one; a machine with only stable builds with RUSTC_BOOTSTRAP=1 instead (libFuzzer needs
# the compiler's unstable flags). Fails if a target crashes, leaks a panic or leaves a crash file.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
if [ "${FUZZ_TOOLCHAIN:-}" != stable ] && cargo +nightly --version >/dev/null 2>&1; then
  fuzz=(cargo +nightly fuzz)
else
  echo "fuzz/smoke.sh: no nightly toolchain; building with stable and RUSTC_BOOTSTRAP=1" >&2
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
fi

python3 make-corpus.py
# No sanitizer: the code fuzzed is safe Rust (no `unsafe`), so AddressSanitizer would find
# nothing the panics do not, at a third of the speed.
"${fuzz[@]}" build -O -s none
rm -rf artifacts
for target in pipeline segments tcp_options; do
  echo "fuzz/smoke.sh: $target for ${secs} s"
  "${fuzz[@]}" run -O -s none "$target" "corpus/$target" -- \
    -max_total_time="$secs" -print_final_stats=1 2>"$target.smoke.log" || {
      tail -60 "$target.smoke.log" >&2
      echo "fuzz/smoke.sh: $target failed; the input is in fuzz/artifacts/$target/" >&2
      exit 1
    }
  grep -E '^(#[0-9]+\s+DONE|stat::number_of_executed_units|stat::average_exec_per_sec)' "$target.smoke.log" || true
  if compgen -G "artifacts/$target/*" >/dev/null; then
    ls "artifacts/$target" >&2
    echo "fuzz/smoke.sh: $target left a crash input" >&2
    exit 1
  fi
done

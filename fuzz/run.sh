#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each, one after the other, and
# exits non-zero if any target finds a crash, a hang, a leak or a mismatch
# (libFuzzer then leaves the input in fuzz/artifacts/<target>/).
#
# Usage: fuzz/run.sh SECONDS [TARGET...]   (default: all targets)
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Seeds the corpus first when fuzz/corpus/<target> is missing (seed.sh).
# Extra libFuzzer flags may be given in FUZZ_FLAGS (e.g. "-jobs=2").
set -uo pipefail
cd "$(dirname "$0")"
if [ $# -lt 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 SECONDS [TARGET...]" >&2
  exit 2
fi
seconds="$1"
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(loader vm rewrite_diff jit_diff)
fi
for target in "${targets[@]}"; do
  if [ ! -d "corpus/$target" ]; then
    ./seed.sh || { echo "seeding the corpus failed" >&2; exit 1; }
    break
  fi
done
failed=()
for target in "${targets[@]}"; do
  echo "== fuzz $target for ${seconds}s"
  # shellcheck disable=SC2086 # FUZZ_FLAGS is a list of flags
  if ! cargo +nightly fuzz run --debug-assertions "$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
      -print_final_stats=1 ${FUZZ_FLAGS:-}; then
    failed+=("$target")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: ${targets[*]}: no failures in ${seconds}s each"

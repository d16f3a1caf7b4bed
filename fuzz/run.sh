#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each, one after the other, and
# exits non-zero if any target finds a crash, a hang, a leak or a mismatch
# (libFuzzer then leaves the input in fuzz/artifacts/<target>/).
#
# Usage: fuzz/run.sh [--resources] SECONDS [TARGET...]
# (default: loader, vm and rewrite_diff; jit_diff, which compares the
# compiled tier and builds Cranelift with the sanitizers for minutes, runs
# when named: fuzz/run.sh 60 jit_diff)
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Seeds the corpus first when fuzz/corpus/<target> is missing (seed.sh).
# Extra libFuzzer flags may be given in FUZZ_FLAGS (e.g. "-jobs=2").
#
# --resources: the resource mode. Runs the loader and vm targets (or the
# TARGETs given) with inputs up to FUZZ_MAX_LEN bytes (default 4 MiB, so the
# corpus's large shapes, `large-*`, are read whole: programs for vm, objects
# of up to 1.6 MB for loader, each at 1x, 4x and 16x; seed.sh writes them
# when the corpus has none), an RSS limit of
# FUZZ_RSS_MB (default 1024) and a per-input time limit of FUZZ_TIMEOUT
# seconds (default 5): an input that makes loading or a run slow or hungry
# is a finding (libFuzzer's timeout-* or oom-* artifact), to become a
# regression test in tests/bad_input.rs.
set -uo pipefail
cd "$(dirname "$0")"
resources=0
if [ "${1:-}" = "--resources" ]; then
  resources=1
  shift
fi
if [ $# -lt 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 [--resources] SECONDS [TARGET...]" >&2
  exit 2
fi
seconds="$1"
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  if [ "$resources" = 1 ]; then
    targets=(loader vm)
  else
    targets=(loader vm rewrite_diff)
  fi
fi
if [ "$resources" = 1 ]; then
  limits="-rss_limit_mb=${FUZZ_RSS_MB:-1024} -timeout=${FUZZ_TIMEOUT:-5} -max_len=${FUZZ_MAX_LEN:-4194304}"
else
  limits="-rss_limit_mb=2048 -timeout=10"
fi
for target in "${targets[@]}"; do
  # The resource mode needs the large shapes too (a corpus seeded before
  # they existed has none).
  if [ ! -d "corpus/$target" ] || { [ "$resources" = 1 ] &&
      ! compgen -G "corpus/$target/large-*" > /dev/null; }; then
    ./seed.sh || { echo "seeding the corpus failed" >&2; exit 1; }
    break
  fi
done
failed=()
for target in "${targets[@]}"; do
  echo "== fuzz $target for ${seconds}s ($limits)"
  # shellcheck disable=SC2086 # limits and FUZZ_FLAGS are lists of flags
  features=()
  if [ "$target" = jit_diff ]; then
    features=(--features jit)
  fi
  if ! cargo +nightly fuzz run --debug-assertions "${features[@]}" "$target" -- \
      -max_total_time="$seconds" $limits \
      -print_final_stats=1 ${FUZZ_FLAGS:-}; then
    failed+=("$target")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: ${targets[*]}: no failures in ${seconds}s each"

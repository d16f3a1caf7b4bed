#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with the seed corpus: the object files of
# testdata/, loader/tests/fixtures/ and $TINYBPF_SHARED/workloads/ (loader),
# the conformance programs and the objects' linked programs (vm), and a few
# pseudo-random byte strings (rewrite_diff). See examples/seed_corpus.rs.
# Usage: fuzz/seed.sh   (any toolchain; TINYBPF_SHARED defaults to ../shared
# beside the checkout). Existing corpus files are kept; seeds are overwritten.
set -euo pipefail
cd "$(dirname "$0")"
shared="${TINYBPF_SHARED:-$(cd ../.. && pwd)/shared}"
cargo run --quiet --release --example seed_corpus -- corpus "$shared"

#!/usr/bin/env bash
# Builds the fuzz targets' seed corpora, fuzz/corpus/<target>/, from the test
# vectors (testdata/reference/), the committed regression inputs
# (image-policy-core/tests/fuzz/testdata/) and the benchmark corpus
# (benches/data/references.txt). The corpus directories are not committed.
#
# Usage: fuzz/seed.sh [CORPUS_DIR]
set -euo pipefail
fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec cargo run --quiet --manifest-path "$fuzz_dir/Cargo.toml" -p image-policy-fuzz-seed -- "${1:-$fuzz_dir/corpus}"

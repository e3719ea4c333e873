#!/usr/bin/env bash
# Counts the instructions each parser spends on the image reference corpus,
# with callgrind: a figure that does not move with the machine's load, unlike
# criterion's wall time. Prints a Markdown table of instructions per reference.
#
# With `lint` first, counts instead what `image-policy lint` spends on the
# manifest corpus of the lint bench (`instructions lint`): instructions per
# byte of YAML, for serde-saphyr alone, for the linter's extraction (the fast
# path, and serde-saphyr's path alone), for three span-keeping parsers at
# the event level, and for the whole of `lint` and of `lint --fix --diff`
# (fix-whole), run on one core (taskset) so that every file is read on the
# thread callgrind collects.
#
# Usage: benches/callgrind.sh [lint] [OUT_DIR]   (needs valgrind)
# The callgrind profiles stay in OUT_DIR (default target/callgrind) for
# `callgrind_annotate --auto=yes OUT_DIR/callgrind.imageref.out`.
# Building and counting are benches/callgrind-lib.sh's, shared with the CI
# gate (benches/gate.sh), which counts our participants only.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/callgrind-lib.sh"
mode=parse
if [[ "${1:-}" == lint ]]; then mode=lint; shift; fi
out="${1:-$callgrind_root/target/callgrind}"
mkdir -p "$out"
callgrind_build -- instructions

if [[ $mode == lint ]]; then
  echo "| reading | instructions | per byte |"
  echo "|---|---:|---:|"
  for how in yaml-ignored extract saphyr-extract granit saphyr-parser yaml-rust2 lint fix-whole; do
    counted=$(callgrind_count "$out" "lint-$how" '*read_corpus*' -- instructions lint "$how")
    read -r ir bytes <<<"$counted"
    echo "| $how | $ir | $((ir / bytes)) |"
  done
  exit 0
fi

declare -A ir
echo "| parser | instructions | per reference |"
echo "|---|---:|---:|"
for parser in imageref reference oci-spec; do
  counted=$(callgrind_count "$out" "$parser" '*parse_corpus*' -- instructions parse "$parser")
  read -r "ir[$parser]" count <<<"$counted"
  echo "| $parser | ${ir[$parser]} | $((ir[$parser] / count)) |"
done
echo
echo "oci-spec / ImageRef::parse: $((ir[oci-spec] / ir[imageref]))×, oci-spec / Reference::parse: $((ir[oci-spec] / ir[reference]))×"

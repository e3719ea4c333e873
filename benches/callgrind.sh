#!/usr/bin/env bash
# Counts the instructions each parser spends on the image reference corpus,
# with callgrind: a figure that does not move with the machine's load, unlike
# criterion's wall time. Prints a Markdown table of instructions per reference.
#
# With `lint` first, counts instead what `image-policy lint` spends on the
# manifest corpus of the lint bench (bin lint-instructions): instructions per
# byte of YAML, for serde-saphyr alone, for the linter's extraction (the fast
# path, and serde-saphyr's path alone), for three span-keeping parsers at
# the event level, and for the whole of `lint` and of `lint --fix --diff`
# (fix-whole), run on one core (taskset) so that every file is read on the
# thread callgrind collects.
#
# Usage: benches/callgrind.sh [lint] [OUT_DIR]   (needs valgrind)
# The callgrind profiles stay in OUT_DIR (default target/callgrind) for
# `callgrind_annotate --auto=yes OUT_DIR/callgrind.imageref.out`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mode=parse
if [[ "${1:-}" == lint ]]; then mode=lint; shift; fi
out="${1:-$root/target/callgrind}"
mkdir -p "$out"
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed" >&2; exit 2; }

if [[ $mode == lint ]]; then
  cargo build --quiet --profile bench --manifest-path "$root/Cargo.toml" \
    -p image-policy-benches --bin lint-instructions
  bin="$root/target/release/lint-instructions"
  if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then bin="$CARGO_TARGET_DIR/release/lint-instructions"; fi
  echo "| reading | instructions | per byte |"
  echo "|---|---:|---:|"
  one_core=()
  if command -v taskset >/dev/null; then one_core=(taskset -c 0); fi
  for how in yaml-ignored extract saphyr-extract granit saphyr-parser yaml-rust2 lint fix-whole; do
    log="$out/callgrind.lint-$how.log"
    "${one_core[@]}" valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.lint-$how.out" \
      --toggle-collect='*read_corpus*' "$bin" "$how" >"$log" 2>&1
    ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$log")
    bytes=$(sed -n 's/^\([0-9]*\) bytes in.*/\1/p' "$log")
    echo "| $how | $ir | $((ir / bytes)) |"
  done
  exit 0
fi

# The bench profile: optimized like `cargo bench`, with debug info for annotation.
cargo build --quiet --profile bench --manifest-path "$root/Cargo.toml" \
  -p image-policy-benches --bin parse-instructions
bin="$root/target/release/parse-instructions"
if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then bin="$CARGO_TARGET_DIR/release/parse-instructions"; fi

count=$(grep -c '' "$root/benches/data/references.txt")
declare -A ir
echo "| parser | instructions | per reference |"
echo "|---|---:|---:|"
for parser in imageref reference oci-spec; do
  log="$out/callgrind.$parser.log"
  valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.$parser.out" \
    --toggle-collect='*parse_corpus*' "$bin" "$parser" >"$log" 2>&1
  ir[$parser]=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$log")
  echo "| $parser | ${ir[$parser]} | $((ir[$parser] / count)) |"
done
echo
echo "oci-spec / ImageRef::parse: $((ir[oci-spec] / ir[imageref]))×, oci-spec / Reference::parse: $((ir[oci-spec] / ir[reference]))×"

#!/usr/bin/env bash
# Counts the instructions the webhook handler and its peers spend per
# AdmissionReview, with callgrind: a figure that does not move with the
# machine's load, unlike criterion's wall time. Prints a Markdown table of
# instructions per review.
#
# Usage: benches/callgrind-handler.sh [OUT_DIR] [N]   (needs valgrind)
# N reviews per participant and case (default 1000); setup is not counted.
# The profiles stay in OUT_DIR (default target/callgrind) for
# `callgrind_annotate OUT_DIR/callgrind.handler.image-policy.allowed.out`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/target/callgrind}"
n="${2:-1000}"
mkdir -p "$out"
command -v valgrind >/dev/null || { echo "callgrind-handler.sh: valgrind is not installed" >&2; exit 2; }

cargo build --quiet --profile bench --manifest-path "$root/Cargo.toml" \
  -p image-policy-benches --bin handler-instructions
bin="${CARGO_TARGET_DIR:-$root/target}/release/handler-instructions"

echo "| review | image-policy | regorus | cel | regorus / ours | cel / ours |"
echo "|---|---:|---:|---:|---:|---:|"
for case in allowed denied; do
  declare -A ir=()
  for who in image-policy regorus cel; do
    log="$out/callgrind.handler.$who.$case.log"
    valgrind --tool=callgrind --dump-instr=no \
      --callgrind-out-file="$out/callgrind.handler.$who.$case.out" \
      --toggle-collect='*review_loop*' "$bin" "$who" "$case" "$n" >"$log" 2>&1
    ir[$who]=$(( $(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$log") / n ))
  done
  ours=${ir[image-policy]}
  echo "| $case | $ours | ${ir[regorus]} | ${ir[cel]} |" \
    "$(awk "BEGIN{printf \"%.1f×\", ${ir[regorus]}/$ours}") |" \
    "$(awk "BEGIN{printf \"%.1f×\", ${ir[cel]}/$ours}") |"
done

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
# Building and counting are benches/callgrind-lib.sh's, shared with the CI
# gate (benches/gate.sh), which also counts `/mutate`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/callgrind-lib.sh"
out="${1:-$callgrind_root/target/callgrind}"
n="${2:-1000}"
mkdir -p "$out"

callgrind_build -- instructions

echo "| review | image-policy | regorus | cel | regorus / ours | cel / ours |"
echo "|---|---:|---:|---:|---:|---:|"
for case in allowed denied; do
  declare -A ir=()
  for who in image-policy regorus cel; do
    counted=$(callgrind_count "$out" "handler.$who.$case" '*review_loop*' -- \
      instructions handler "$who" "$case" "$n")
    read -r total _ <<<"$counted"
    ir[$who]=$((total / n))
  done
  ours=${ir[image-policy]}
  echo "| $case | $ours | ${ir[regorus]} | ${ir[cel]} |" \
    "$(awk "BEGIN{printf \"%.1f×\", ${ir[regorus]}/$ours}") |" \
    "$(awk "BEGIN{printf \"%.1f×\", ${ir[cel]}/$ours}") |"
done

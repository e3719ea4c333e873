#!/usr/bin/env bash
# The instruction-count gate (issue 24): counts, with callgrind, what our code
# spends on the parse, policy, handler and lint benchmarks, compares each
# count with the committed baseline (benches/instructions-baseline.tsv) and
# prints a Markdown table. Fails when a count rose more than 5%; says when
# one fell more than 5% (the baseline should then move, in a commit that
# says why).
#
# Usage: benches/gate.sh                  compare with the baseline
#        benches/gate.sh --update REASON  count and rewrite the baseline,
#                                         with REASON and the commit counted
#
# What it counts (each counter's measured function only; building the
# policy, the corpus or the review, and one warm-up, are left out):
# - parse/imageref, parse/reference: ImageRef::parse and Reference::parse of
#   each of the 10,000 references of benches/data/references.txt;
# - policy/N-rules, policy/50-regexes: the decision (parse and
#   Policy::evaluate) of each of the 1,000 images of the policy bench with
#   its policies;
# - handler/validate-*, handler/mutate-*: the webhook handler on the
#   benchmark AdmissionReview and its denied variant, 200 reviews each,
#   /validate with the bench's policy and /mutate with its rewrite rules;
# - handler/mutate-pin-warm: /mutate of the allowed review under a policy
#   that allows and pins its registry, both pure phases with each reference
#   answered as a warm cache answers it (a digest), 200 reviews (the
#   cache's look-up itself, Resolver::cached_digest, is in the registry
#   crate, which this build leaves out: `instructions pin warm` counts it);
# - lint/lint, lint/fix-whole: `lint` and `lint --fix --diff` but printing,
#   on the first 1 MiB of the lint bench's corpus.
# The table gives each per unit (reference, image, review, byte); the
# change is on that figure.
#
# Reproducible: the counters are built with the bench profile from our
# crates only (image-policy-benches without default features: no peer,
# no HTTP stack), read fixed inputs with fixed iteration counts, and run on
# one CPU each (taskset), so `lint` reads every file on one thread. Two runs
# of the same binary give identical counts, or counts within 0.05% of each
# other (policy/50-regexes, handler/mutate-allowed and lint/fix-whole move by
# up to 0.03% between runs: hash tables seeded at random), far under the 5%
# that fails. What moves a count is a change of code, of the compiler or of
# a dependency (Cargo.lock): the baseline says at which commit and with
# which compiler it was counted.
#
# Needs valgrind and cargo. The counting takes about 23 s of CPU in all,
# after the build of one binary (see BENCHMARKS.md); the counters run on
# every CPU this process may use, one per CPU (GATE_JOBS=N for fewer).
# Profiles stay in target/callgrind/gate for callgrind_annotate and
# benches/callgrind-diff.sh (which functions grew, against an older profile).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/callgrind-lib.sh"
baseline="$callgrind_root/benches/instructions-baseline.tsv"
out="$callgrind_root/target/callgrind/gate"
tolerance=5
reviews=200
lint_bytes=$((1 << 20))

update=
reason=
case "${1:-}" in
  "") ;;
  --update)
    update=1
    reason="${2:-}"
    [[ -n $reason ]] || { echo "usage: benches/gate.sh --update REASON (why the counts move)" >&2; exit 2; }
    ;;
  *) echo "usage: benches/gate.sh [--update REASON]" >&2; exit 2 ;;
esac

# name | unit | measured function | counter and its arguments. The two lint
# counts, the longest, come first, so that each starts on a CPU of its own.
benchmarks=(
  "lint/lint|byte|*read_corpus*|instructions lint lint $lint_bytes"
  "lint/fix-whole|byte|*read_corpus*|instructions lint fix-whole $lint_bytes"
  "parse/imageref|reference|*parse_corpus*|instructions parse imageref"
  "parse/reference|reference|*parse_corpus*|instructions parse reference"
  "policy/1-rules|image|*decide_corpus*|instructions policy 1-rules"
  "policy/100-rules|image|*decide_corpus*|instructions policy 100-rules"
  "policy/10000-rules|image|*decide_corpus*|instructions policy 10000-rules"
  "policy/50-regexes|image|*decide_corpus*|instructions policy 50-regexes"
  "handler/validate-allowed|review|*review_loop*|instructions handler image-policy allowed $reviews"
  "handler/validate-denied|review|*review_loop*|instructions handler image-policy denied $reviews"
  "handler/mutate-allowed|review|*review_loop*|instructions handler image-policy-mutate allowed $reviews"
  "handler/mutate-denied|review|*review_loop*|instructions handler image-policy-mutate denied $reviews"
  "handler/mutate-pin-warm|review|*pin_loop*|instructions pin phases $reviews"
)

callgrind_build --no-default-features --locked -- instructions

rm -rf "$out"
mkdir -p "$out"
mapfile -t cpus < <(callgrind_cpus)
jobs=${GATE_JOBS:-${#cpus[@]}}
((jobs >= 1 && jobs <= ${#cpus[@]})) || jobs=${#cpus[@]}

# Lane k counts benchmarks k, k + jobs, ... one after the other on CPU k;
# each writes "INSTRUCTIONS UNITS" to OUT/NAME.count.
lane() {
  local k=$1 i name unit toggle command file
  for ((i = k; i < ${#benchmarks[@]}; i += jobs)); do
    IFS='|' read -r name unit toggle command <<<"${benchmarks[i]}"
    file="${name//\//.}"
    # shellcheck disable=SC2086 # the counter's arguments are words
    if counted=$(callgrind_count "$out" "$file" "$toggle" "${cpus[k]}" -- $command); then
      echo "$counted" >"$out/$file.count"
    fi
  done
}
for ((k = 0; k < jobs; k++)); do lane "$k" & done
wait

# The counts, as "name<TAB>instructions<TAB>units<TAB>unit" lines.
now=$(
  for b in "${benchmarks[@]}"; do
    IFS='|' read -r name unit _ <<<"$b"
    file="$out/${name//\//.}.count"
    [[ -s $file ]] || { echo "gate.sh: $name was not counted (see above)" >&2; exit 1; }
    read -r ir units <"$file"
    printf '%s\t%s\t%s\t%s\n' "$name" "$ir" "$units" "$unit"
  done
)

old=
if [[ -f $baseline ]]; then old=$(grep -v '^#' "$baseline" || true); fi

# The table and the verdict: awk reads the baseline, then the counts.
table=$(
  awk -F'\t' -v tolerance="$tolerance" -v out="$out/verdict" '
    function per(ir, units) { return ir / units }
    function fmt(x) { return x >= 10000 ? sprintf("%.0f", x) : sprintf("%.1f", x) }
    FNR == NR { if (NF >= 4) { base[$1] = per($2, $3); seen[$1] = 0 }; next }
    {
      name = $1; x = per($2, $3)
      if (!(name in base)) {
        rows = rows sprintf("| %s | per %s | none | %s | new |\n", name, $4, fmt(x))
        missing = missing " " name
        next
      }
      seen[name] = 1
      change = 100 * (x - base[name]) / base[name]
      mark = ""
      if (change > tolerance) { mark = " **rose**"; rose = rose " " name }
      else if (change < -tolerance) { mark = " fell"; fell = fell " " name }
      rows = rows sprintf("| %s | per %s | %s | %s | %+.2f%%%s |\n", name, $4, fmt(base[name]), fmt(x), change, mark)
    }
    END {
      for (name in seen) if (!seen[name]) gone = gone " " name
      printf "| benchmark | unit | baseline | now | change |\n|---|---|---:|---:|---:|\n%s", rows
      printf "rose=\"%s\"\nfell=\"%s\"\nmissing=\"%s\"\ngone=\"%s\"\n", rose, fell, missing, gone > out
    }
  ' <(printf '%s\n' "$old") <(printf '%s\n' "$now")
)
rose= fell= missing= gone=
source "$out/verdict"

echo
echo "$table"
if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
  printf '### Instruction counts (benches/gate.sh)\n\n%s\n' "$table" >>"$GITHUB_STEP_SUMMARY"
fi
echo

if [[ -n $update ]]; then
  commit=$(git -C "$callgrind_root" rev-parse --short HEAD 2>/dev/null || echo unknown)
  # Changes to what is built (not to scripts or docs) make the counts those
  # of no commit.
  if [[ -n $(git -C "$callgrind_root" status --porcelain -- '*.rs' '*.toml' Cargo.lock 2>/dev/null) ]]; then
    commit="$commit with uncommitted changes"
  fi
  {
    echo "# The instruction-count baseline of benches/gate.sh: callgrind's count of"
    echo "# each benchmark's measured function, for the number of units it handled."
    echo "# It moves only in a commit that says why (benches/gate.sh --update REASON)."
    echo "# Counted at $commit, $(rustc --version | cut -d' ' -f1-2): $reason"
    printf '# name\tinstructions\tunits\tunit\n'
    echo "$now"
  } >"$baseline"
  echo "Wrote ${baseline#"$callgrind_root"/}; commit it with a message that says why the counts moved."
  exit 0
fi

status=0
if [[ -n $missing || -n $gone ]]; then
  echo "FAIL: the baseline does not match the benchmarks (not in the baseline:${missing:- none}; not counted:${gone:- none})."
  echo "      Run benches/gate.sh --update REASON and commit the baseline."
  status=1
fi
if [[ -n $rose ]]; then
  echo "FAIL: instructions rose more than $tolerance% in:$rose."
  echo "      Where: benches/callgrind-diff.sh OLD.out ${out#"$callgrind_root"/}/callgrind.NAME.out UNITS,"
  echo "      OLD.out being the same count at the baseline's commit (BENCHMARKS.md, \"The"
  echo "      instruction-count gate\"). If the cost is wanted, move the baseline in a commit"
  echo "      that says why: benches/gate.sh --update REASON."
  status=1
fi
if [[ -n $fell ]]; then
  echo "Instructions fell more than $tolerance% in:$fell."
  echo "The baseline should move with the change, in a commit that says why:"
  echo "benches/gate.sh --update REASON, so that the gain cannot be lost unnoticed."
fi
if ((status == 0)) && [[ -z $fell ]]; then echo "Every count is within $tolerance% of the baseline."; fi
exit "$status"

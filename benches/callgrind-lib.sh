# Sourced by benches/callgrind.sh, benches/callgrind-handler.sh and
# benches/gate.sh: the one place that builds the instruction counters
# (benches/src/bin/*-instructions.rs) and counts what one of them spends in
# its measured function, with callgrind.
#
#   callgrind_build [CARGO_ARGS...] -- BIN...
#       builds BINs of image-policy-benches with the bench profile (optimized
#       like `cargo bench`, with debug info for callgrind_annotate), and sets
#       callgrind_bin_dir to where they are.
#   callgrind_count OUT NAME TOGGLE [CPU] -- BIN ARGS...
#       runs BIN ARGS under callgrind, collecting only the functions matching
#       TOGGLE (the measured loop; setup is not counted), on one CPU (CPU, or
#       the first this process may use): `lint` spreads files over the CPUs
#       it sees, and one CPU makes it read them all on one thread, the same
#       work on any machine. Prints "INSTRUCTIONS UNITS", UNITS being the
#       first number of the counter's last line of output (references,
#       images, reviews or bytes). The profile is OUT/callgrind.NAME.out
#       (for `callgrind_annotate`), valgrind's log OUT/callgrind.NAME.log.
#       On failure, prints the log to stderr and returns 1.

callgrind_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

command -v valgrind >/dev/null || {
  echo "${0##*/}: valgrind is not installed (apt-get install valgrind)" >&2
  exit 2
}

callgrind_build() {
  local cargo_args=() bins=()
  while [[ $# -gt 0 && $1 != -- ]]; do cargo_args+=("$1"); shift; done
  shift
  for bin in "$@"; do bins+=(--bin "$bin"); done
  cargo build --quiet --profile bench --manifest-path "$callgrind_root/Cargo.toml" \
    -p image-policy-benches "${cargo_args[@]}" "${bins[@]}"
  callgrind_bin_dir="${CARGO_TARGET_DIR:-$callgrind_root/target}/release"
}

# The CPUs this process may run on, one a line (taskset's list expanded).
callgrind_cpus() {
  local list range
  command -v taskset >/dev/null || { echo 0; return; }
  list=$(taskset -pc $$ | sed 's/.*: //')
  for range in ${list//,/ }; do
    if [[ $range == *-* ]]; then seq "${range%-*}" "${range#*-}"; else echo "$range"; fi
  done
}

callgrind_count() {
  local out=$1 name=$2 toggle=$3 cpu=
  shift 3
  if [[ $1 != -- ]]; then cpu=$1; shift; fi
  shift
  local bin=$1
  shift
  local one_core=()
  if command -v taskset >/dev/null; then
    one_core=(taskset -c "${cpu:-$(callgrind_cpus | head -n 1)}")
  fi
  local log="$out/callgrind.$name.log" stdout="$out/callgrind.$name.stdout"
  if ! "${one_core[@]}" valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.$name.out" \
    --toggle-collect="$toggle" "$callgrind_bin_dir/$bin" "$@" >"$stdout" 2>"$log"; then
    echo "callgrind: $bin $* failed:" >&2
    cat "$stdout" "$log" >&2
    return 1
  fi
  local ir units
  ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$log")
  units=$(tail -n 1 "$stdout" | grep -o '[0-9]\+' | head -n 1)
  if [[ -z $ir || -z $units ]]; then
    echo "callgrind: no count in the output of $bin $*:" >&2
    cat "$stdout" "$log" >&2
    return 1
  fi
  echo "$ir $units"
}

#!/usr/bin/env bash
# Where the instructions went between two callgrind profiles of the same
# benchmark (an older commit's and this one's, from benches/gate.sh,
# callgrind.sh or callgrind-handler.sh): the instructions each function
# spends itself (inlined code counted in the function it was inlined into),
# divided by UNITS (the reviews, references or bytes of the run), the
# functions that moved most first. Prints a Markdown table.
#
# Usage: benches/callgrind-diff.sh OLD.out NEW.out [UNITS [ROWS]]
#        (UNITS default 1, ROWS default 25; needs callgrind_annotate)
# A function renamed or moved between the two shows as one gone and one new.
set -euo pipefail
[[ $# -ge 2 ]] || { echo "usage: benches/callgrind-diff.sh OLD.out NEW.out [UNITS [ROWS]]" >&2; exit 2; }
old=$1 new=$2 units=${3:-1} rows=${4:-25}

# "instructions<TAB>function" of a profile, summed over the source files
# callgrind names for each function's inlined parts, closures folded into
# their function, hash suffixes and object names dropped.
per_function() {
  callgrind_annotate --inclusive=no --auto=no --threshold=100 "$1" 2>/dev/null |
    awk '
      /file:function/ { table = 1; next }
      table && /^ *[0-9,]+ +\([ 0-9.]+%\) +[^ ]/ {
        ir = $1; gsub(",", "", ir)
        line = $0
        sub(/^ *[0-9,]+ +\([ 0-9.]+%\) +/, "", line)
        sub(/ \[[^]]*\]$/, "", line)
        # file:function, the file ending in a source suffix or ???.
        if (match(line, /^(\?\?\?|[^ ]*\.(rs|c|S|h|cc|cpp)):/)) line = substr(line, RLENGTH + 1)
        sub(/::h[0-9a-f]{16}$/, "", line)
        sub(/::\{\{closure\}\}.*$/, "", line)
        sub(/'\''[0-9]+$/, "", line)
        sum[line] += ir
      }
      END { for (f in sum) printf "%d\t%s\n", sum[f], f }
    '
}

join -t $'\t' -j 2 -a 1 -a 2 -e 0 -o 0,1.1,2.1 \
  <(per_function "$old" | sort -t $'\t' -k 2,2) \
  <(per_function "$new" | sort -t $'\t' -k 2,2) |
  awk -F'\t' -v units="$units" -v rows="$rows" '
    { d = $3 - $2; o += $2; n += $3; line[NR] = sprintf("%.0f\t%.1f\t%.1f\t%+.1f\t%s", (d < 0 ? -d : d), $2 / units, $3 / units, d / units, $1) }
    END {
      printf "| function (self, inlined code included) | old | new | change |\n|---|---:|---:|---:|\n"
      cmd = "sort -t \"\t\" -k1,1nr | head -n " rows
      for (i = 1; i <= NR; i++) print line[i] | cmd
      close(cmd)
      printf "| **total** | %.1f | %.1f | %+.1f |\n", o / units, n / units, (n - o) / units
    }
  ' | awk -F'\t' 'NF == 5 { printf "| `%s` | %s | %s | %s |\n", $5, $2, $3, $4; next } { print }'

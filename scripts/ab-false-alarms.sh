#!/usr/bin/env bash
# Measures how often a CI verdict cries wolf and how often it catches a real slowdown,
# for `attnbench ab` (interleaved pairs, paired test) and for plain `compare` of two
# separate runs, on this machine. Not a test: it takes minutes and its numbers are
# the machine's. Usage (after scripts/build.sh):
#   scripts/ab-false-alarms.sh [REPEATS=10] [SLOWDOWN=0.1] [extra selection args...]
#   e.g. scripts/ab-false-alarms.sh 10 0.1 --variant 'flash*,decode'
# A/A: the same plugin folder on both sides; A/B: side B is the CPU backend behind
# the test knob slowdown=X (tests/plugins/slowed_cpu_plugin.cpp), X slower on every call.
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-10}
slowdown=${2:-0.1}
shift $(( $# > 2 ? 2 : $# ))
bin=build/bin/attnbench
base=build/bin/plugins
slowed=build/test-plugins-slowed
[[ -x $bin && -f $slowed/libattnbench-backend-cpu.so ]] || { echo "build first (scripts/build.sh)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
select=(--suite long-context --quick "$@")

# Counts "<flagged> <cases>" from an ab or compare output.
ab_counts() { awk '/B\/A /{n++} /SLOWER|faster$/{f++} END{print f+0, n+0}' "$1"; }
# From compare's first line: "... N cases: R regressions, I improvements, P pass, ...".
compare_counts() {
  sed -n '1s/.*: \([0-9]*\) regressions, \([0-9]*\) improvements, \([0-9]*\) pass.*/\1 \2 \3/p' "$1" |
    awk '{print $1 + $2, $1 + $2 + $3}'
}

declare -A flagged cases
for kind in ab_aa ab_ab cmp_aa cmp_ab; do flagged[$kind]=0; cases[$kind]=0; done
add() { read -r f n < <("$2" "$3"); flagged[$1]=$(( flagged[$1] + f )); cases[$1]=$(( cases[$1] + n )); }

for ((i = 1; i <= repeats; ++i)); do
  echo "repeat $i/$repeats" >&2
  "$bin" ab --a "$base" --b "$base" --backend cpu "${select[@]}" --db "$work/aa$i.db" > "$work/aa$i.txt" 2>/dev/null || true
  add ab_aa ab_counts "$work/aa$i.txt"
  "$bin" ab --a "$base" --b "$slowed" --b-options "slowdown=$slowdown" --backend cpu "${select[@]}" \
    --db "$work/ab$i.db" > "$work/ab$i.txt" 2>/dev/null || true
  add ab_ab ab_counts "$work/ab$i.txt"
  # Plain compare: two separate runs, one after the other.
  db="$work/cmp$i.db"
  "$bin" run --plugins "$base" --backend cpu "${select[@]}" --db "$db" > /dev/null 2>&1
  "$bin" run --plugins "$base" --backend cpu "${select[@]}" --db "$db" > /dev/null 2>&1
  "$bin" run --plugins "$slowed" --backend cpu --backend-options "slowdown=$slowdown" "${select[@]}" --db "$db" > /dev/null 2>&1
  "$bin" compare --db "$db" 1 2 > "$work/cmpaa$i.txt" 2>/dev/null || true
  add cmp_aa compare_counts "$work/cmpaa$i.txt"
  "$bin" compare --db "$db" 1 3 > "$work/cmpab$i.txt" 2>/dev/null || true
  add cmp_ab compare_counts "$work/cmpab$i.txt"
done

rate() { awk -v f="$1" -v n="$2" 'BEGIN{ if (n) printf "%.1f%% (%d of %d)", 100*f/n, f, n; else print "n/a" }'; }
echo "| method | A/A flagged (false alarms) | B ${slowdown} slower flagged (detection) |"
echo "|---|---|---|"
echo "| ab (interleaved pairs, signed-rank) | $(rate "${flagged[ab_aa]}" "${cases[ab_aa]}") | $(rate "${flagged[ab_ab]}" "${cases[ab_ab]}") |"
echo "| compare of two separate runs (Mann-Whitney) | $(rate "${flagged[cmp_aa]}" "${cases[cmp_aa]}") | $(rate "${flagged[cmp_ab]}" "${cases[cmp_ab]}") |"

#!/usr/bin/env bash
# Measures how often a CI verdict cries wolf and how often it catches a real slowdown,
# for `attnbench ab` (interleaved pairs, paired test) and for plain `compare` of two
# separate runs, on this machine. Not a test: it takes hours on 2 cores (one repeat of
# the quick long-context suite is two ab runs and three plain runs) and its numbers are
# the machine's. Usage (after scripts/build.sh):
#   scripts/ab-false-alarms.sh [REPEATS=10] [SLOWDOWN=0.1] [extra selection args...]
#   e.g. scripts/ab-false-alarms.sh 10 0.1 --variant 'flash*,decode'
# Environment: ATTNBENCH_BUILD (build folder, default build), AB_REPETITIONS (pairs per
# case for ab and repetitions per run for compare, default 10, so both verdicts see as
# many timed calls per side; ab may add pairs up to its --max-pairs while a verdict is open),
# AB_KEEP (a folder: keep every database and output there), AB_ONLY=1 (skip the plain
# runs and compare: only ab's rates, in less than half the time).
# A/A: the same plugin folder on both sides; A/B: both sides are the CPU backend behind
# the test knob's wrapper (tests/plugins/slowed_cpu_plugin.cpp), A at slowdown=0 and B at
# slowdown=X, so B is exactly X slower on every call (plain compare: the same, in runs).
# Only time verdicts count: a case that is not ok on a side, or whose sizes cannot
# reach alpha, is left out (and counted as such). A/A: slower or faster is a false alarm;
# A/B: only slower is a detection. A step that fails is reported and the rest goes on.
set -uo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-10}
slowdown=${2:-0.1}
shift $(( $# > 2 ? 2 : $# ))
build=${ATTNBENCH_BUILD:-build}
reps=${AB_REPETITIONS:-10}
bin=$build/bin/attnbench
base=$build/bin/plugins
slowed=$build/test-plugins-slowed
[[ -x $bin && -f $slowed/libattnbench-backend-cpu.so ]] || { echo "build first (scripts/build.sh; folder $build)" >&2; exit 2; }
command -v python3 > /dev/null || { echo "needs python3 (reads compare --format json)" >&2; exit 2; }
if [[ -n ${AB_KEEP:-} ]]; then
  work=$AB_KEEP
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
select=(--backend cpu --suite long-context --quick --repetitions "$reps" "$@")

# "<flagged> <timed cases> <untimed>" from ab's case lines
# ("[i/n] KEY: A .. ms, B .. ms, N pairs, B/A r [lo, hi] p=.. SLOWER|faster|same"); $2: which verdicts count.
ab_counts() {
  awk -v want="$2" '/^\[[0-9]+\/[0-9]+\] / { if ($0 ~ / B\/A /) { n++; if ($NF ~ want) f++ } else u++ }
                    END { print f + 0, n + 0, u + 0 }' "$1"
}
# The same from `compare --format json`: cases with a conclusive time comparison.
compare_counts() {
  python3 - "$1" "$2" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
want = sys.argv[2].split("|")
f = n = u = 0
for c in j["cases"]:
    t = c.get("time")
    if c["verdict"] in ("only_base", "only_cand", "not_comparable") or not t or t["inconclusive"] \
            or c["status_base"] != "ok" or c["status_cand"] != "ok":
        u += 1
        continue
    n += 1
    f += ("slower" in want and t["slower"]) or ("faster" in want and t["faster"])
print(f, n, u)
EOF
}

declare -A flagged cases untimed
for kind in ab_aa ab_ab cmp_aa cmp_ab; do flagged[$kind]=0; cases[$kind]=0; untimed[$kind]=0; done
failures=0
add() {  # kind counter file verdicts
  local f n u
  if ! read -r f n u < <("$2" "$3" "$4" 2>/dev/null) || [[ -z $u ]]; then
    echo "  $1: no verdicts in $3 (see the .err file next to it)" >&2
    failures=$((failures + 1))
    return
  fi
  flagged[$1]=$(( flagged[$1] + f )); cases[$1]=$(( cases[$1] + n )); untimed[$1]=$(( untimed[$1] + u ))
  echo "  $1: $f of $n flagged ($u untimed)" >&2
}
# Runs a step, keeping its output; a non-zero exit other than ab/compare's 1 ("slower") is reported.
step() {  # name command...
  local name=$1 rc=0
  shift
  "$@" > "$work/$name.txt" 2> "$work/$name.err" || rc=$?
  if (( rc > 1 )) || { (( rc == 1 )) && [[ $name == run* ]]; }; then
    echo "  $name exited $rc: $(tail -n 2 "$work/$name.err" | tr '\n' ' ')" >&2
    failures=$((failures + 1))
  fi
}

started=$(date +%s)
for ((i = 1; i <= repeats; ++i)); do
  echo "repeat $i/$repeats ($(( ($(date +%s) - started) / 60 )) min so far)" >&2
  step "aa$i" "$bin" ab --a "$base" --b "$base" "${select[@]}" --db "$work/aa$i.db"
  add ab_aa ab_counts "$work/aa$i.txt" 'SLOWER|faster'
  # Both sides behind the knob's wrapper, so B/A is exactly the knob: the wrapper alone
  # (slowdown=0) measured 1.00-1.06x the plain plugin, which would flatter detection.
  step "ab$i" "$bin" ab --a "$slowed" --a-options slowdown=0 --b "$slowed" --b-options "slowdown=$slowdown" \
    "${select[@]}" --db "$work/ab$i.db"
  add ab_ab ab_counts "$work/ab$i.txt" 'SLOWER'
  [[ ${AB_ONLY:-0} == 1 ]] && continue
  # Plain compare: two separate runs of A one after the other, then one of B.
  db="$work/cmp$i.db"
  step "run${i}a" "$bin" run --plugins "$slowed" --backend-options slowdown=0 "${select[@]}" --db "$db"
  step "run${i}b" "$bin" run --plugins "$slowed" --backend-options slowdown=0 "${select[@]}" --db "$db"
  step "run${i}c" "$bin" run --plugins "$slowed" --backend-options "slowdown=$slowdown" "${select[@]}" --db "$db"
  step "cmpaa$i" "$bin" compare --db "$db" 1 2 --format json --allow-incomplete
  add cmp_aa compare_counts "$work/cmpaa$i.txt" 'slower|faster'
  step "cmpab$i" "$bin" compare --db "$db" 1 3 --format json --allow-incomplete
  add cmp_ab compare_counts "$work/cmpab$i.txt" 'slower'
done

rate() { awk -v f="$1" -v n="$2" 'BEGIN{ if (n) printf "%.1f%% (%d of %d)", 100*f/n, f, n; else print "n/a" }'; }
echo "| method | A/A flagged (false alarms, goal <= 1%) | B ${slowdown} slower flagged slower (detection, goal >= 95%) |"
echo "|---|---|---|"
echo "| ab (interleaved pairs, signed-rank) | $(rate "${flagged[ab_aa]}" "${cases[ab_aa]}") | $(rate "${flagged[ab_ab]}" "${cases[ab_ab]}") |"
echo "| compare of two separate runs (Mann-Whitney) | $(rate "${flagged[cmp_aa]}" "${cases[cmp_aa]}") | $(rate "${flagged[cmp_ab]}" "${cases[cmp_ab]}") |"
echo
echo "$repeats repeats, $reps pairs/repetitions per case, $(( ($(date +%s) - started) / 60 )) min;" \
  "left out (not ok on a side or inconclusive): ab ${untimed[ab_aa]}+${untimed[ab_ab]}, compare ${untimed[cmp_aa]}+${untimed[cmp_ab]};" \
  "failed steps: $failures"
(( failures == 0 ))

#!/usr/bin/env bash
# Conclusion stability of the recall suite: sweeps the generator knobs the KV methods
# react to around their defaults and says, for each pairwise ranking of the methods of
# the quick suite (by mean recall accuracy over its cells), whether it holds across the
# sweep or flips, and at which knob value.
#
# Usage: scripts/recall_sensitivity.sh [--attnbench PATH] [--out DIR] [--seed N]
#                                      [--sweep "KNOB:DEFAULT V1 V2 ..."]... [--methods LIST]
#   --attnbench  the attnbench binary (default: build/bin/attnbench)
#   --out        working folder: one suite file and database per sweep point, and
#                stability.md, the table (default: sensitivity-out)
#   --sweep      replaces the default sweeps (repeatable; the first value is the default)
#   --methods    comma-separated KV methods (default: the quick suite's)
# Each sweep point is a small recall suite (single_needle, multi_key, passkey at
# len_k 1024, depths 0.25/0.75, budget 128, the quick methods) with one knob changed;
# the defaults come from suites/generators/recall_generator.h. A point whose knob value
# the generator refuses (margin infeasible) is reported as such and left out.
set -euo pipefail
exe=build/bin/attnbench out=sensitivity-out seed=1 custom_methods=""
custom_sweeps=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --attnbench) exe=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --sweep) custom_sweeps+=("$2"); shift 2 ;;
    --methods) custom_methods=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "recall_sensitivity.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ -x $exe ]] || { echo "recall_sensitivity.sh: attnbench not found at '$exe' (use --attnbench)" >&2; exit 2; }
mkdir -p "$out"

# knob: values around the default (the default first).
sweeps=(
  "sink_key_norm_ratio:0.25 0.1 0.5 1.0 2.0"
  "needle_key_norm_ratio:1.0 0.75 1.5 2.0 3.0"
  "local_logit:6 3 9 12"
  "needle_margin:4 2 6 8"
  "n_distractors:2 0 4 8"
)
methods='["full", "streaming", "h2o", "snapkv", "random", "kivi:bits=2", "l2norm", "tova"]'
((${#custom_sweeps[@]})) && sweeps=("${custom_sweeps[@]}")
if [[ -n $custom_methods ]]; then
  methods="[\"${custom_methods//,/\", \"}\"]"
fi

run_point() {  # knob value tag
  local knob=$1 value=$2 tag=$3
  cat >"$out/$tag.json" <<JSON
{"suite": "sens-$tag", "kind": "recall",
 "defaults": {"repetitions": 1, "min_time": 0, "axes": {"heads_q": 4, "heads_kv": 2, "head_dim": 64, "budget": 128},
              "methods": $methods, "knobs": {"$knob": $value}},
 "groups": [{"name": "needle", "task": "single_needle", "axes": {"len_k": 1024, "depth": [0.25, 0.75]}},
            {"name": "multi-key", "task": "multi_key", "axes": {"len_k": 1024, "depth": [0.25, 0.75], "n_needles": 4}},
            {"name": "passkey", "task": "passkey", "axes": {"len_k": 1024, "depth": [0.25, 0.75]}}]}
JSON
  rm -f "$out/$tag.db"
  if ! "$exe" run --suite "$out/$tag.json" --db "$out/$tag.db" --no-peaks --seed "$seed" >"$out/$tag.log" 2>&1; then
    echo "  $knob=$value: run reported failures (see $out/$tag.log)" >&2
  fi
}

for s in "${sweeps[@]}"; do
  knob=${s%%:*}
  for v in ${s#*:}; do
    echo "sweep $knob=$v" >&2
    run_point "$knob" "$v" "${knob}=${v}"
  done
done

python3 - "$out" "${sweeps[@]}" <<'PY'
import itertools, os, sqlite3, sys
out, sweeps = sys.argv[1], sys.argv[2:]

def accuracy(tag):
    db = os.path.join(out, tag + ".db")
    if not os.path.exists(db):
        return None
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = con.execute("SELECT c.config, avg(m.value) FROM cases c JOIN metrics m ON m.case_id = c.id "
                       "AND m.name = 'recall_accuracy' WHERE c.status = 'ok' AND c.config LIKE 'kv=%' "
                       "GROUP BY c.config").fetchall()
    con.close()
    return {cfg[3:].split(":")[0] + (":bits=" + cfg.split("bits=")[1].split(",")[0] if "bits=" in cfg else ""): a
            for cfg, a in rows} or None

def order(a, b, eps=0.05):
    return 0 if abs(a - b) <= eps else (1 if a > b else -1)

lines = ["| pair | at defaults | " + " | ".join(s.split(":")[0] for s in sweeps) + " |",
         "|---|---|" + "---|" * len(sweeps)]
points = {}
for s in sweeps:
    knob, values = s.split(":")[0], s.split(":")[1].split()
    points[knob] = [(v, accuracy(f"{knob}={v}")) for v in values]
base = points[sweeps[0].split(":")[0]][0][1]
if not base:
    sys.exit("recall_sensitivity.sh: the default point stored no accuracy")
sym = {1: ">", 0: "=", -1: "<"}
for a, b in itertools.combinations(sorted(base), 2):
    o = order(base[a], base[b])
    cells = []
    for s in sweeps:
        knob = s.split(":")[0]
        flips = [f"{v} ({sym[order(acc[a], acc[b])]})" for v, acc in points[knob][1:]
                 if acc and a in acc and b in acc and order(acc[a], acc[b]) != o]
        missing = [v for v, acc in points[knob][1:] if not acc]
        cell = "holds" if not flips else "flips at " + ", ".join(flips)
        if missing:
            cell += " (no data at " + ", ".join(missing) + ")"
        cells.append(cell)
    lines.append(f"| {a} vs {b} | {a} {sym[o]} {b} ({base[a]:.2f} / {base[b]:.2f}) | " + " | ".join(cells) + " |")
acc_lines = ["| knob=value | " + " | ".join(sorted(base)) + " |", "|---|" + "---|" * len(base)]
for s in sweeps:
    knob = s.split(":")[0]
    for v, acc in points[knob]:
        acc_lines.append(f"| {knob}={v} | " + " | ".join(f"{acc[m]:.2f}" if acc and m in acc else "-" for m in sorted(base)) + " |")
text = ("Ranking by mean recall accuracy (equal within 0.05). A cell says whether the pair's order at the defaults\n"
        "holds across the knob's sweep, or at which values it flips (the order there in parentheses).\n\n"
        + "\n".join(lines) + "\n\nMean recall accuracy per sweep point:\n\n" + "\n".join(acc_lines) + "\n")
open(os.path.join(out, "stability.md"), "w").write(text)
print(text)
PY

#!/usr/bin/env bash
# ctest driver of the browser test: a tiny real run of the CPU backend, its report,
# then report_page.test.mjs on it in headless Chromium. Exits 77 (skip) when node,
# playwright-core (tests/browser/node_modules, from scripts/setup.sh) or Chromium is missing.
# A copy of the database with markup in one case's status and message gives a second,
# hostile report: the page must show that text as text.
# Usage: run_report_page_test.sh ATTNBENCH_BINARY WORK_DIR [SCREENSHOT.png]
set -euo pipefail
bin=$1 work=$2 shot=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
command -v node >/dev/null || { echo "SKIP: node is not installed"; exit 77; }
[[ -x ${ATTNBENCH_CHROMIUM:-/usr/bin/chromium} ]] || { echo "SKIP: chromium is not installed"; exit 77; }
[[ -d $here/node_modules/playwright-core ]] || { echo "SKIP: playwright-core missing (run scripts/setup.sh)"; exit 77; }

rm -rf "$work" && mkdir -p "$work"
# Exact kernels and a sliding window over four lengths: enough for a chart with
# several lines, a filterable table and an approximate variant to compare.
cat >"$work/tiny.json" <<'JSON'
{"suite": "browser-tiny", "description": "tiny suite for the browser test",
 "defaults": {"phase": "prefill", "check": "sampled", "repetitions": 2, "min_time": 0.0,
              "axes": {"heads_q": 2, "head_dim": 64}},
 "groups": [{"name": "sweep", "variants": ["flash", "flash:causal", "naive:causal", "sliding_window:causal,window=32:0"],
             "axes": {"len": [64, 128, 256, 512]}}]}
JSON
"$bin" run --suite "$work/tiny.json" --backend cpu --db "$work/results.db" >"$work/run.log" 2>&1 || { cat "$work/run.log"; exit 1; }
"$bin" report --db "$work/results.db" -o "$work/report.html"
cp "$work/results.db" "$work/hostile.db"
python3 - "$work/hostile.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
case = db.execute("SELECT id FROM cases ORDER BY id LIMIT 1").fetchone()[0]
db.execute("DELETE FROM samples WHERE case_id = ?", (case,))
db.execute("DELETE FROM metrics WHERE case_id = ?", (case,))
db.execute("UPDATE cases SET status = ?, message = ? WHERE id = ?",
           ('<b class="injected">boom</b>',
            '<img src=x onerror="document.body.setAttribute(\'data-pwned\',1)"> & "quoted"', case))
db.commit()
PY
"$bin" report --db "$work/hostile.db" -o "$work/hostile.html"
node "$here/report_page.test.mjs" "$work/report.html" "$work/hostile.html" ${shot:+"$shot"}

#!/usr/bin/env bash
# The main job: install what is missing, build, run the quick suites (correctness,
# long-context, recall) on the CPU
# backend into results.db, and render report.html.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
status=0
build/bin/attnbench run --suite correctness,long-context,recall --quick --backend cpu --db results.db || status=$?
build/bin/attnbench report --db results.db -o report.html
echo "results in results.db, report in report.html"
exit "$status"

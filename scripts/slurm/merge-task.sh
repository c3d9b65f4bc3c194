#!/usr/bin/env bash
# The dependent job of submit-suite.sh: merges the shard databases into one.
#   merge-task.sh ATTNBENCH OUT_DB SHARD_DB...
set -euo pipefail
attnbench=${1:?attnbench executable} merged=${2:?merged database}
shift 2
(($#)) || { echo "merge-task: no shard databases" >&2; exit 2; }
for f in "$@"; do
  [[ -f $f ]] || { echo "merge-task: shard database $f is missing" >&2; exit 2; }
done
exec "$attnbench" merge "$merged" "$@"

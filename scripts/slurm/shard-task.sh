#!/usr/bin/env bash
# One array task of submit-suite.sh: shard i of N of the suite into OUT/shard-i-of-N.db.
#   shard-task.sh ATTNBENCH OUT SHARDS RUN_ARGS...
# i and N come from the array itself, whatever its base: i = TASK_ID - TASK_MIN + 1,
# N = TASK_COUNT (checked against SHARDS, the count the merge job expects).
set -euo pipefail
attnbench=${1:?attnbench executable} out=${2:?output folder} shards=${3:?shard count}
shift 3

: "${SLURM_ARRAY_TASK_ID:?shard-task.sh runs as a Slurm array task}"
: "${SLURM_ARRAY_TASK_MIN:?}" "${SLURM_ARRAY_TASK_COUNT:?}"
i=$((SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN + 1))
n=$SLURM_ARRAY_TASK_COUNT
if ((n != shards || i < 1 || i > n)); then
  echo "shard-task: array task $SLURM_ARRAY_TASK_ID (min $SLURM_ARRAY_TASK_MIN, count $n) is not shard i/$shards" >&2
  exit 2
fi

db="$out/shard-$i-of-$n.db"
# A requeued task starts over: its earlier attempt is kept aside, so that the merged
# database holds each case once.
if [[ -e $db ]]; then
  aside="$db.attempt-$(date +%Y%m%d-%H%M%S)"
  echo "shard-task: $db exists (requeued?); moving it to $aside" >&2
  mv "$db" "$aside"
  rm -f "$db-wal" "$db-shm"
fi
echo "shard-task: job ${SLURM_ARRAY_JOB_ID:-?} task $SLURM_ARRAY_TASK_ID on $(hostname): shard $i/$n -> $db" >&2
exec "$attnbench" run --shard "$i/$n" --db "$db" "$@"

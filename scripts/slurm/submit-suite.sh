#!/usr/bin/env bash
# Submits an attnbench suite to Slurm as a job array, one shard per array task, and a
# dependent job that merges the shard databases into one:
#
#   scripts/slurm/submit-suite.sh --suite correctness --shards 8 --out /shared/ab/run1 \
#       [--sbatch-arg=--partition=gpu --shard-sbatch-arg=--gres=gpu:1] -- --quick --backend cpu
#
# Array task k runs `attnbench run --shard i/N --db OUT/shard-i-of-N.db RUN_ARGS...` with
# i = SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN + 1 and N = SLURM_ARRAY_TASK_COUNT, so any
# array base works (--array-base). The merge job (--dependency=afterok:<array job>) runs
# `attnbench merge OUT/merged.db OUT/shard-1-of-N.db ...`; a shard that fails (exit 1: a
# case failed, crashed or timed out; exit 2: bad input, e.g. a shard with no case) cancels
# it, and the shard databases stay in OUT for `attnbench merge` by hand.
# OUT must be on a filesystem that every node sees. Prints ARRAY_JOB_ID=... and
# MERGE_JOB_ID=... on stdout.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
  cat <<'USAGE'
usage: submit-suite.sh --suite LIST --shards N --out DIR [options] [-- RUN_ARGS...]
  --suite LIST            suites (or suite files) for `attnbench run --suite`
  --shards N              array tasks, one shard each (each shard must select at least one case)
  --out DIR               shared folder for shard-I-of-N.db, logs/ and the merged database
  --db FILE               merged database (default: DIR/merged.db)
  --attnbench PATH        executable (default: $ATTNBENCH, else attnbench on PATH,
                          else build/bin/attnbench of this checkout); same path on every node
  --campaign NAME         campaign name shared by every shard (default: SUITE-YYYYmmdd-HHMMSS)
  --array-base B          first array index (default 1)
  --sbatch-arg ARG        extra sbatch option for every job (repeatable)
  --shard-sbatch-arg ARG  extra sbatch option for the array tasks only (repeatable)
  --dry-run               print the sbatch commands instead of submitting
  RUN_ARGS                passed to every `attnbench run` (e.g. --quick --backend cpu)
USAGE
}

die() { echo "submit-suite: $*" >&2; exit 2; }

suite="" shards="" out="" db="" attnbench="${ATTNBENCH:-}" campaign="" base=1 dry_run=0
common_args=() shard_args=() run_args=()
while (($#)); do
  case "$1" in
    --suite) suite=${2:?}; shift 2 ;;
    --suite=*) suite=${1#*=}; shift ;;
    --shards) shards=${2:?}; shift 2 ;;
    --shards=*) shards=${1#*=}; shift ;;
    --out) out=${2:?}; shift 2 ;;
    --out=*) out=${1#*=}; shift ;;
    --db) db=${2:?}; shift 2 ;;
    --db=*) db=${1#*=}; shift ;;
    --attnbench) attnbench=${2:?}; shift 2 ;;
    --attnbench=*) attnbench=${1#*=}; shift ;;
    --campaign) campaign=${2:?}; shift 2 ;;
    --campaign=*) campaign=${1#*=}; shift ;;
    --array-base) base=${2:?}; shift 2 ;;
    --array-base=*) base=${1#*=}; shift ;;
    --sbatch-arg) common_args+=("${2:?}"); shift 2 ;;
    --sbatch-arg=*) common_args+=("${1#*=}"); shift ;;
    --shard-sbatch-arg) shard_args+=("${2:?}"); shift 2 ;;
    --shard-sbatch-arg=*) shard_args+=("${1#*=}"); shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; run_args=("$@"); break ;;
    *) usage >&2; die "unknown option '$1'" ;;
  esac
done

[[ -n $suite ]] || die "--suite is required"
for a in "${run_args[@]}"; do
  case "$a" in --shard|--shard=*|--db|--db=*|--resume|--resume=*)
    die "RUN_ARGS must not contain $a (each task sets --shard and --db itself)" ;;
  esac
done
[[ $shards =~ ^[1-9][0-9]*$ ]] || die "--shards must be a positive integer, got '${shards}'"
[[ $base =~ ^[0-9]+$ ]] || die "--array-base must be a non-negative integer, got '${base}'"
[[ -n $out ]] || die "--out is required"
if [[ -z $attnbench ]]; then
  attnbench=$(command -v attnbench || true)
  [[ -n $attnbench ]] || attnbench="$here/../../build/bin/attnbench"
fi
[[ -x $attnbench ]] || die "attnbench executable '$attnbench' not found (use --attnbench)"
attnbench=$(cd "$(dirname "$attnbench")" && pwd)/$(basename "$attnbench")
mkdir -p "$out/logs"
out=$(cd "$out" && pwd)
[[ -n $db ]] || db="$out/merged.db"
[[ $db == /* ]] || db="$PWD/$db"
[[ -n $campaign ]] || campaign="${suite//[^A-Za-z0-9._-]/_}-$(date +%Y%m%d-%H%M%S)"

# --- campaign ------------------------------------------------------------------------
# `attnbench run --campaign NAME` (shards of one submission share a campaign name) is
# being added separately. It is passed when `attnbench run --help` lists it; set
# ATTNBENCH_CAMPAIGN_OPTION to force the option name, or to "" to never pass it.
if [[ -v ATTNBENCH_CAMPAIGN_OPTION ]]; then
  campaign_option=$ATTNBENCH_CAMPAIGN_OPTION
elif "$attnbench" run --help 2>/dev/null | grep -q -- '--campaign'; then
  campaign_option=--campaign
else
  campaign_option=""
fi
campaign_args=()
[[ -z $campaign_option ]] || campaign_args=("$campaign_option" "$campaign")
# --------------------------------------------------------------------------------------

last=$((base + shards - 1))
shard_dbs=()
for ((i = 1; i <= shards; i++)); do shard_dbs+=("$out/shard-$i-of-$shards.db"); done

array_cmd=(sbatch --parsable --job-name="attnbench-shards" --array="$base-$last"
           --output="$out/logs/shard-%A_%a.out" "${common_args[@]}" "${shard_args[@]}"
           "$here/shard-task.sh" "$attnbench" "$out" "$shards"
           --suite "$suite" "${campaign_args[@]}" "${run_args[@]}")
merge_cmd_tail=(--output="$out/logs/merge-%j.out" --kill-on-invalid-dep=yes "${common_args[@]}"
                "$here/merge-task.sh" "$attnbench" "$db" "${shard_dbs[@]}")

if ((dry_run)); then
  printf '%q ' "${array_cmd[@]}"; echo
  printf '%q ' sbatch --parsable --job-name=attnbench-merge --dependency=afterok:ARRAY_JOB_ID "${merge_cmd_tail[@]}"; echo
  exit 0
fi

array_id=$("${array_cmd[@]}")
array_id=${array_id%%;*}   # "id;cluster" on multi-cluster setups
[[ $array_id =~ ^[0-9]+$ ]] || die "sbatch returned '$array_id' for the array job"
merge_id=$(sbatch --parsable --job-name=attnbench-merge --dependency="afterok:$array_id" "${merge_cmd_tail[@]}")
merge_id=${merge_id%%;*}
[[ $merge_id =~ ^[0-9]+$ ]] || die "sbatch returned '$merge_id' for the merge job"

echo "ARRAY_JOB_ID=$array_id"
echo "MERGE_JOB_ID=$merge_id"
echo "submit-suite: $shards shards of '$suite' (campaign $campaign${campaign_option:+, passed as $campaign_option}," \
     "array $array_id, tasks $base-$last), merge job $merge_id -> $db" >&2

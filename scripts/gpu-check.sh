#!/usr/bin/env bash
# One command for a machine with an NVIDIA GPU (sized for an H100/H200, under 8 minutes):
#   builds the CUDA plugin (sm_90a SASS plus portable sm_80 SASS and compute_90 PTX) with
#   the harness, runs test_gpu_plugins (attention and every KV primitive against the CPU
#   plugin), the quick correctness, long-context and recall suites on --backend cuda, and
#   scripts/peer_compare_pytorch.py (skipped without PyTorch), all into one database, and
#   renders the report. A decode bandwidth step times decode at b=8, 32/8 heads, d=128,
#   Lk=32K bf16 (1 GiB of K/V, far beyond L2; contiguous and 16-token pages) on the decode
#   kernel and on the SIMT body (path=simt) and writes each case's fraction of the
#   measured read bandwidth to OUTDIR/decode-bandwidth.txt.
#
#   scripts/gpu-check.sh [OUTDIR]        OUTDIR defaults to $OUT
#   scripts/gpu-check.sh --build-only [OUTDIR]   configure and build only (no GPU needed)
#
# Writes OUTDIR/results.db, OUTDIR/report.html, OUTDIR/steps.tsv (step, status, exit code,
# seconds), OUTDIR/summary.txt, OUTDIR/gpu-check.log and one log per step in OUTDIR/logs/.
# Every step runs under its own time budget (timeout), and a failing step is recorded and
# the next one still runs; the exit status is 0 only when no step failed.
# Environment: BUILD_DIR (default build-gpu-check), JOBS (default nproc),
# CUDA_ARCHS (default "80-real;90a-real;90-virtual"), TOTAL_BUDGET seconds (default 470),
# BUILD_BUDGET seconds of the build step (default 260: a 16-core machine; more on small ones).
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)

BUILD_ONLY=0
if [ "${1:-}" = "--build-only" ]; then BUILD_ONLY=1; shift; fi
OUTDIR=${1:-${OUT:-}}
if [ -z "$OUTDIR" ]; then
  echo "usage: scripts/gpu-check.sh [--build-only] OUTDIR   (or set OUT)" >&2
  exit 2
fi
mkdir -p "$OUTDIR/logs" || exit 2
OUTDIR=$(cd "$OUTDIR" && pwd)
BUILD_DIR=${BUILD_DIR:-build-gpu-check}
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 4)}
CUDA_ARCHS=${CUDA_ARCHS:-80-real;90a-real;90-virtual}
TOTAL_BUDGET=${TOTAL_BUDGET:-470}
BUILD_BUDGET=${BUILD_BUDGET:-260}
DB="$OUTDIR/results.db"
BIN="$BUILD_DIR/bin"
LOG="$OUTDIR/gpu-check.log"
STEPS="$OUTDIR/steps.tsv"
START=$(date +%s)
FAILED=0
STEP_NO=0

printf 'step\tstatus\texit\tseconds\n' > "$STEPS"
: > "$LOG"

log() { echo "[gpu-check $(date +%H:%M:%S) +$(( $(date +%s) - START ))s] $*" | tee -a "$LOG"; }

# run_step NAME BUDGET_SECONDS CMD...: runs CMD under min(budget, time left), logs it
# to logs/NN-NAME.log, records the outcome in steps.tsv; never stops the script.
run_step() {
  local name=$1 budget=$2
  shift 2
  STEP_NO=$((STEP_NO + 1))
  local left=$(( TOTAL_BUDGET - ($(date +%s) - START) ))
  local file
  file=$(printf '%s/logs/%02d-%s.log' "$OUTDIR" "$STEP_NO" "$name")
  if [ "$left" -le 5 ]; then
    log "SKIP $name: total budget of ${TOTAL_BUDGET}s used up"
    printf '%s\tskipped-budget\t-\t0\n' "$name" >> "$STEPS"
    FAILED=1
    return 1
  fi
  [ "$budget" -gt "$left" ] && budget=$left
  log "RUN  $name (budget ${budget}s): $*"
  local t0 rc status
  t0=$(date +%s)
  timeout --kill-after=10 "$budget" "$@" > "$file" 2>&1
  rc=$?
  local secs=$(( $(date +%s) - t0 ))
  case $rc in
    0) status=ok ;;
    77) status=skipped ;;  # ctest's skip code: e.g. no device
    124|137) status=timeout; FAILED=1 ;;
    *) status=failed; FAILED=1 ;;
  esac
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$rc" "$secs" >> "$STEPS"
  log "DONE $name: $status (exit $rc, ${secs}s), log $file"
  if [ "$status" != ok ]; then tail -n 15 "$file" | sed 's/^/    | /' | tee -a "$LOG"; fi
  return $rc
}

# skip_step NAME REASON: records a step that cannot run here (not a failure).
skip_step() {
  STEP_NO=$((STEP_NO + 1))
  printf '%s\tskipped\t-\t0\n' "$1" >> "$STEPS"
  log "SKIP $1: $2"
}

# -- environment ------------------------------------------------------------------
log "output $OUTDIR, build $BUILD_DIR, jobs $JOBS, CUDA archs $CUDA_ARCHS, budget ${TOTAL_BUDGET}s"
NVCC=${CUDACXX:-}
[ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
[ -z "$NVCC" ] && NVCC=$(command -v nvcc || true)
{
  echo "commit: $(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "host: $(uname -a)"
  echo "nvcc: ${NVCC:-none}"; [ -n "$NVCC" ] && "$NVCC" --version | tail -n 2
  command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
} > "$OUTDIR/environment.txt" 2>&1
sed 's/^/    /' "$OUTDIR/environment.txt" | tee -a "$LOG"

# -- build ------------------------------------------------------------------------
if [ -z "$NVCC" ]; then
  skip_step configure "no nvcc found (set CUDACXX)"
  FAILED=1
else
  # HIP off: this is the NVIDIA machine check. Tests on: test_gpu_plugins is a step.
  run_step configure 90 cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CUDA_COMPILER="$NVCC" -DATTNBENCH_CUDA=ON -DATTNBENCH_HIP=OFF -DATTNBENCH_BUILD_TESTS=ON \
    "-DATTNBENCH_CUDA_ARCHITECTURES=$CUDA_ARCHS"
  run_step build "$BUILD_BUDGET" cmake --build "$BUILD_DIR" -j "$JOBS" --target attnbench attnbench-backend-cpu \
    attnbench-backend-cuda test_gpu_plugins test_gpu_kv_emulation
  if [ -f "$BIN/plugins/libattnbench-backend-cuda.so" ] && command -v cuobjdump > /dev/null; then
    cuobjdump --list-elf --list-ptx "$BIN/plugins/libattnbench-backend-cuda.so" > "$OUTDIR/logs/cuda-archs.txt" 2>&1
    log "CUDA plugin targets: $(grep -o 'sm_[0-9a-z]*\|compute_[0-9a-z]*' "$OUTDIR/logs/cuda-archs.txt" | sort -u | tr '\n' ' ')"
  fi
fi
if [ "$BUILD_ONLY" = 1 ]; then
  log "build only: done"
  column -t -s "$(printf '\t')" "$STEPS" > "$OUTDIR/summary.txt" 2>/dev/null || cp "$STEPS" "$OUTDIR/summary.txt"
  tee -a "$LOG" < "$OUTDIR/summary.txt"
  exit "$FAILED"
fi

# -- tests and suites ---------------------------------------------------------------
if [ -x "$BIN/test_gpu_plugins" ]; then
  # Console reporter: the test exits 77 from inside a test case without a device, which
  # Catch2's buffering junit reporter does not survive (it segfaults at exit).
  run_step test_gpu_plugins 120 "$BIN/test_gpu_plugins"
  run_step test_gpu_kv_emulation 30 "$BIN/test_gpu_kv_emulation"
else
  skip_step test_gpu_plugins "not built"; FAILED=1
fi
if [ -x "$BIN/attnbench" ]; then
  export ATTNBENCH_PLUGIN_PATH=
  # Before the suites, so the total budget cannot skip it.
  # KV >> L2 (50 MB on H100/H200): every call streams K/V from HBM, so GB/s over the
  # measured read bandwidth is the kernel's fraction of what the memory delivers.
  cat > "$OUTDIR/decode-bandwidth.json" <<'JSON'
{
  "suite": "decode-bandwidth",
  "description": "decode at b=8, 32/8 heads, d=128, Lk=32K bf16: 1 GiB of K/V per call, contiguous and paged",
  "defaults": { "check": "sampled", "repetitions": 5, "min_time": 0.1 },
  "groups": [
    { "name": "decode", "phase": "decode", "variants": ["decode"],
      "axes": { "batch": 8, "heads_q": 32, "gqa": 4, "len_q": 1, "len_k": 32768, "head_dim": 128,
                "dtype": "bf16", "page_size": [0, 16] } }
  ]
}
JSON
  run_step decode-bandwidth 60 "$BIN/attnbench" run --suite "$OUTDIR/decode-bandwidth.json" --backend cuda \
    --db "$OUTDIR/decode-bandwidth.db"
  run_step decode-bandwidth-simt 60 "$BIN/attnbench" run --suite "$OUTDIR/decode-bandwidth.json" --backend cuda \
    --backend-options path=simt --db "$OUTDIR/decode-bandwidth.db"
  grep -h 'peak)' "$OUTDIR"/logs/*-decode-bandwidth*.log > "$OUTDIR/decode-bandwidth.txt" 2>/dev/null
  log "decode bandwidth (first: decode kernel, then path=simt):"
  sed 's/^/    /' "$OUTDIR/decode-bandwidth.txt" | tee -a "$LOG"
fi
if [ -x "$BIN/attnbench" ]; then
  export ATTNBENCH_PLUGIN_PATH=
  run_step env 20 "$BIN/attnbench" env
  for suite in correctness long-context recall; do
    run_step "suite-$suite" 110 "$BIN/attnbench" run --suite "$suite" --quick --backend cuda --db "$DB"
  done
else
  skip_step suites "attnbench not built"; FAILED=1
fi
if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' > /dev/null 2>&1; then
  run_step peer_compare_pytorch 120 python3 "$ROOT/scripts/peer_compare_pytorch.py" \
    --plugin "$BIN/plugins/libattnbench-backend-cuda.so" --db "$DB" --warmup 2 --reps 5
else
  skip_step peer_compare_pytorch "PyTorch with CUDA is not importable here"
fi
if [ -x "$BIN/attnbench" ] && [ -f "$DB" ]; then
  run_step report 60 "$BIN/attnbench" report --db "$DB" -o "$OUTDIR/report.html"
else
  skip_step report "no database"; FAILED=1
fi

column -t -s "$(printf '\t')" "$STEPS" > "$OUTDIR/summary.txt" 2>/dev/null || cp "$STEPS" "$OUTDIR/summary.txt"
log "summary (total $(( $(date +%s) - START ))s, $([ "$FAILED" = 0 ] && echo 'all steps ok' || echo 'some steps failed')):"
sed 's/^/    /' "$OUTDIR/summary.txt" | tee -a "$LOG"
exit "$FAILED"

#!/usr/bin/env bash
# Sanitizer pass for CI: builds build-asan with AddressSanitizer and UndefinedBehavior-
# Sanitizer on all host C/C++ code (harness, reports, CPU kernels and every plugin the
# binary dlopens; no CUDA/HIP), runs the tests there, then runs the quick correctness
# suite on the CPU backend under the sanitizers. Any finding fails the script.
#
#   scripts/test-sanitize.sh            # what .ci/run calls after scripts/test.sh
#   ATTNBENCH_SANITIZE=address scripts/test-sanitize.sh
#
# Leak checking is on (LeakSanitizer, part of ASan on x86-64 Linux).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${ATTNBENCH_SANITIZE_BUILD:-build-asan}
sanitize=${ATTNBENCH_SANITIZE:-address,undefined}
start=$SECONDS

scripts/setup.sh
# The onednn peer is off here like CUDA/HIP: its work happens inside oneDNN and libgomp,
# which are not instrumented, and the Release pass already tests it. The CPU kernels are
# built once, at the baseline level (ATTNBENCH_CPU_ISA_DISPATCH=OFF): the sanitizers check
# the host logic and the kernels' index math, which the levels share; the Release pass
# runs every level.
# -O1 -g1: instrumented code at -O3 compiles about 3x slower than at -O1 (UBSan's
# alignment and object-size checks, mostly) and finds nothing more; line tables make the
# reports point at lines. The top-level CMakeLists.txt drops the CPU kernels' own -O3.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DATTNBENCH_SANITIZE="$sanitize" \
  -DCMAKE_C_FLAGS_RELEASE="-O1 -g1 -DNDEBUG" -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g1 -DNDEBUG" \
  -DATTNBENCH_CUDA=OFF -DATTNBENCH_HIP=OFF -DATTNBENCH_ONEDNN=OFF -DATTNBENCH_CPU_ISA_DISPATCH=OFF
cmake --build "$build" -j"$(nproc)"
built=$SECONDS

# Every finding stops the process that hit it (abort: the test or the case fails).
#  - detect_leaks=1: LeakSanitizer works here (no ptrace restriction) and the code has
#    no known leaks, so leaks fail the pass like any other finding.
#  - allocator_may_return_null=1: the CPU plugin reports a failed aligned_alloc as AB_OOM,
#    and test_cpu_plugin asks for 2^60 bytes on purpose; ASan would abort instead.
#  - handle_segv=0: test_worker_isolation crashes a plugin on purpose and checks that the
#    worker died of SIGSEGV; ASan's handler would turn that into exit status 1. A wild
#    access in our code still kills the test, and every instrumented access is checked
#    before it happens, so ASan still reports those.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1:allocator_may_return_null=1:handle_segv=0:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

# Excluded, by name: fuzz_suite_file builds its own clang libFuzzer+ASan+UBSan binary of
# the suite parser and already ran in scripts/test.sh; running it again checks nothing new.
# One at a time, as scripts/test.sh does: the compare/reproduce/A-B tests judge timings,
# and a second test on the same two cores moved them by 7% (measured: -j2 saves ~2 min).
# The per-level reruns of the kernel tests (test_cpu_kernels_avx2, ...) are left out too:
# with one level built they would run the same kernels again.
ctest --test-dir "$build" --output-on-failure --timeout 900 \
  -E '^fuzz_suite_file$|^(test_cpu_kernels|test_cpu_decode|test_cpu_plugin|test_tier2_topk|test_tier2_hip_flex|test_cpu_kv_primitives)_(generic|avx2|avx512)$'
tested=$SECONDS

db_dir=$(mktemp -d)
trap 'rm -rf "$db_dir"' EXIT
"$build/bin/attnbench" run --suite correctness --quick --backend cpu --db "$db_dir/sanitize.db"

echo "test-sanitize: build $((built - start)) s, ctest $((tested - built)) s, correctness run $((SECONDS - tested)) s," \
  "total $((SECONDS - start)) s"

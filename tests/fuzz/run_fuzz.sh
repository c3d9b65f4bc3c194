#!/usr/bin/env bash
# Builds the suite-file fuzz target with clang (libFuzzer + ASan + UBSan, this folder's
# CMakeLists.txt configured on its own), fuzzes it for SECONDS from the shipped suites,
# then replays every input in regressions/. Exit 0: no finding; 77 (ctest skip): no
# clang++ or no libFuzzer runtime; anything else: a build failure or a finding (the
# crashing input is kept under BUILD_DIR/artifacts/; fix it, then add it to regressions/).
# Usage: run_fuzz.sh SOURCE_DIR BUILD_DIR [SECONDS]
set -euo pipefail
src=$(cd "$1" && pwd)
build=$2
seconds=${3:-60}
here=$src/tests/fuzz
mkdir -p "$build"

cxx=""
for c in clang++-14 clang++; do
  if command -v "$c" >/dev/null; then cxx=$(command -v "$c"); break; fi
done
if [[ -z $cxx ]]; then
  echo "fuzz: no clang++ (Debian packages clang, libclang-rt-14-dev); skipped"
  exit 77
fi
# Debian ships libFuzzer's runtime apart from clang (libclang-rt-14-dev): probe for it.
probe=$build/probe
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' >"$probe.cpp"
if ! "$cxx" -fsanitize=fuzzer,address,undefined "$probe.cpp" -o "$probe" 2>"$probe.log"; then
  echo "fuzz: $cxx cannot link -fsanitize=fuzzer,address,undefined (libclang-rt-14-dev missing?); skipped"
  exit 77
fi

cmake -S "$here" -B "$build/clang" -DCMAKE_CXX_COMPILER="$cxx" >"$build/configure.log" ||
  { cat "$build/configure.log"; exit 1; }
cmake --build "$build/clang" -j2
fuzzer=$build/clang/fuzz_suite_file

# Fuzz: new inputs go to the first corpus folder (kept between runs), seeds come from suites/.
mkdir -p "$build/corpus" "$build/artifacts"
start=$(date +%s)
"$fuzzer" -max_total_time="$seconds" -max_len=16384 -timeout=30 -rss_limit_mb=2048 \
  -dict="$here/suite.dict" -artifact_prefix="$build/artifacts/" -print_final_stats=1 \
  "$build/corpus" "$src/suites"
echo "fuzz: $(($(date +%s) - start)) s of fuzzing, no finding"

# Replay: every input that once crashed must now be handled.
shopt -s nullglob
regressions=("$here"/regressions/*)
if ((${#regressions[@]})); then
  "$fuzzer" "${regressions[@]}"
  echo "fuzz: ${#regressions[@]} regression inputs replayed"
fi

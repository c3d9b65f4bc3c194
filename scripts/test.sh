#!/usr/bin/env bash
# Install what is missing, build everything (CUDA and HIP plugins included when their
# compilers are present), and run the tests. GPU tests skip (exit 77) without a device.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
ctest --preset release

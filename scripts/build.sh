#!/usr/bin/env bash
# Configures and builds attnbench (Release) into build/ with every plugin whose
# compiler is present. Extra arguments go to the CMake configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset release "$@"
cmake --build --preset release -j"$(nproc)"

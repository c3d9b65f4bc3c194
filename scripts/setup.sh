#!/usr/bin/env bash
# Installs every build and test dependency from Debian 12 packages (apt-get only).
# Does nothing when all are present. The CUDA plugin builds when a CUDA toolkit is
# at /usr/local/cuda (NVIDIA's packages); without one it is skipped, not faked.
set -euo pipefail

packages=(
  build-essential cmake git pkg-config clang libclang-rt-14-dev
  libtbb-dev libfmt-dev libsqlite3-dev sqlite3 libbenchmark-dev catch2 libcli11-dev nlohmann-json3-dev libre2-dev
  hipcc libamdhip64-dev
  chromium
  slurm-wlm munge
  python3-scipy libbenchmark-tools
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi

# Optional: oneDNN for the onednn peer backend (backends/onednn). Without the package only
# that plugin is skipped (CMake says so), so a failed install is reported, not fatal.
if ! dpkg-query -W -f='${Status}' libdnnl-dev 2>/dev/null | grep -q "install ok installed" ||
   ! dpkg-query -W -f='${Status}' ocl-icd-opencl-dev 2>/dev/null | grep -q "install ok installed"; then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  apt-cache show libdnnl-dev >/dev/null 2>&1 || $sudo apt-get update || true
  # ocl-icd-opencl-dev: Debian's oneDNN CMake config requires OpenCL (its GPU runtime).
  if DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends libdnnl-dev ocl-icd-opencl-dev; then
    echo "setup: libdnnl-dev installed (onednn peer backend)"
  else
    echo "setup: libdnnl-dev could not be installed; the onednn peer backend will not be built"
  fi
fi

# Optional: PyTorch and numpy (Debian's, CPU only) so test_trace_capture runs
# scripts/capture_trace.py on a tiny torch model; without them that test skips.
if ! dpkg-query -W -f='${Status}' python3-torch 2>/dev/null | grep -q "install ok installed"; then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  apt-cache show python3-torch >/dev/null 2>&1 || $sudo apt-get update || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends python3-torch python3-numpy ||
    echo "setup: python3-torch could not be installed; test_trace_capture will be skipped"
fi

# The browser test (tests/browser) drives the report with playwright-core from npm, at the
# version pinned in its package-lock.json, against Debian's chromium: no browser download.
if ! command -v npm >/dev/null; then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends npm ||
    echo "setup: Debian's npm could not be installed"
fi
if command -v npm >/dev/null; then
  (cd "$(dirname "$0")/../tests/browser" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund) ||
    echo "setup: npm ci in tests/browser failed; the browser test will be skipped"
else
  echo "setup: npm not found; the browser test will be skipped"
fi

if [[ -x /usr/local/cuda/bin/nvcc ]]; then
  echo "setup: CUDA toolkit $(/usr/local/cuda/bin/nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p') found"
else
  echo "setup: no CUDA toolkit at /usr/local/cuda; the CUDA plugin will not be built"
fi

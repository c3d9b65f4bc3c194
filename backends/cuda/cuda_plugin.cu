// The CUDA backend plugin: the shared GPU kernels and ABI shim of backends/gpu/
// compiled by nvcc against the static CUDA runtime (no libcuda needed to load).
#define AB_GPU_PLUGIN_NAME "cuda"
#define AB_GPU_PLUGIN_DESCRIPTION \
  "CUDA: flash (mma.sync tensor cores for bf16/fp16 on sm_80+, SIMT otherwise), split-K decode, naive (materialised S); KV primitives"
#include "plugin_table.h"

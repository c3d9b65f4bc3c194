// The HIP backend plugin: the shared GPU kernels and ABI shim of backends/gpu/
// compiled by hipcc (SIMT path; wave64 on CDNA, wave32 on RDNA).
#ifndef AB_HIP_BUILT_TARGETS
#error "AB_HIP_BUILT_TARGETS (the --offload-arch list, e.g. \"gfx90a,gfx908\") must be defined: create() checks the device against it"
#endif
#define AB_GPU_PLUGIN_NAME "hip"
#define AB_GPU_PLUGIN_DESCRIPTION "HIP: flash (SIMT), split-K decode, naive (materialised S); KV primitives"
#include "plugin_table.h"

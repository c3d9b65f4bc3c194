// The exported ab_plugin table of a GPU backend. A plugin TU defines
// AB_GPU_PLUGIN_NAME and AB_GPU_PLUGIN_DESCRIPTION, then includes this header once.
#pragma once

#include "plugin_backward.h"
#include "plugin_kv.h"
#include "plugin_peaks.h"
#include "plugin_run.h"

#ifndef AB_GPU_PLUGIN_NAME
#error "define AB_GPU_PLUGIN_NAME before including plugin_table.h"
#endif

namespace attnbench::gpu {

/// The function table; every entry forwards to the shared implementation.
inline const ab_plugin* plugin_table() {
  static const ab_plugin table = {
      ATTNBENCH_PLUGIN_API_VERSION,
      static_cast<uint32_t>(sizeof(ab_plugin)),
      AB_GPU_PLUGIN_NAME,
      AB_GPU_PLUGIN_DESCRIPTION,
      "0.1.0",
      gpu_variants(),
      &device_count,
      &create,
      &destroy,
      &last_error,
      &device_info_with_peaks,
      &supports,
      &alloc,
      &release,
      &upload,
      &download,
      &fill,
      &run_attention,
      &measure_peaks,
      kv_ops(),
      &run_backward,
      &memory_info,
      nullptr,  // call_stats: the GPU kernels do not count attended pairs (the harness probes)
  };
  return &table;
}

}  // namespace attnbench::gpu

extern "C" ATTNBENCH_EXPORT const ab_plugin* attnbench_plugin_entry(void) {
  return attnbench::gpu::plugin_table();
}

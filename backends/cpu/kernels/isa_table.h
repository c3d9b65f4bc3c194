// What each ISA level of the kernel library offers the level-independent code
// (kernel_dispatch.cpp, variant_dispatch.cpp, peaks.cpp): one table of entry points per
// level, defined by isa_table.cpp, which is compiled into every level's namespace.
#pragma once

#include <cstddef>
#include <span>

#include "attnbench/plugin_abi.h"
#include "cpu_kernels.h"
#include "extra_variants.h"

namespace attnbench::cpu {

/// Entry points of one ISA level. The kernels take arguments that passed supports().
struct IsaKernels {
  const char* name;  ///< the level's namespace name (isa_namespace.h)
  std::span<const ExtraVariant> (*extra_variants)();
  void (*reference)(const ab_attention_args& a);
  void (*naive)(const ab_attention_args& a);
  void (*flash)(const ab_attention_args& a);
  void (*decode)(const ab_attention_args& a);
  /// Peak loops (peak_measurement.cpp): FLOP per iteration and the loop, which the
  /// caller times on every thread (peaks.cpp).
  double (*fma_f32_flops_per_iter)();
  void (*fma_f32_loop)(long iters);
  /// VDPBF16PS loop, or null below avx512bf16.
  double (*dot_bf16_flops_per_iter)();
  void (*dot_bf16_loop)(long iters);
  /// Sum of n floats (a pure read stream) with this level's widest loads.
  float (*sum_stream)(const float* p, size_t n);
  /// Backward passes of naive and flash (dQ, dK, dV from Q, K, V, O, LSE, dO).
  void (*naive_backward)(const ab_backward_args& g);
  void (*flash_backward)(const ab_backward_args& g);
};

/// The table of the active level (active_isa()).
const IsaKernels& active_kernels();

/// The table of `isa`, which must be built into this library (isa <= best_isa() on x86).
const IsaKernels& kernels_of(Isa isa);

}  // namespace attnbench::cpu

// Public interface of the CPU kernel library (attnbench_cpu_kernels): the variants,
// their capability checks and the peak measurements. The plugin (cpu_plugin.cpp) is
// a thin ABI shim over these; tests and the bench call them directly.
//
// Every kernel runs its parallel loops with oneTBB in the caller's task arena, so
// the caller controls the thread count (tbb::task_arena::execute).
#pragma once

#include <string>

#include "attnbench/plugin_abi.h"

namespace attnbench::cpu {

/// Variants this backend implements, NULL-terminated (the plugin's `variants`).
const char* const* variant_names();

/// Result of a capability or argument check: status plus a human-readable reason.
struct Check {
  ab_status status = AB_OK;
  std::string reason;
  bool ok() const { return status == AB_OK; }
};

/// Validates the shape, lengths and page geometry of `a`, not its buffers
/// (AB_INVALID_ARGUMENT with the reason): what supports() can judge before allocation.
Check validate_args(const ab_attention_args& a);

/// Validates the buffers of `a` and the block table's entries (run time only).
Check validate_buffers(const ab_attention_args& a);

/// Whether `variant` runs case `a`: AB_INVALID_ARGUMENT for a malformed case,
/// AB_UNSUPPORTED with the reason for a valid case outside the variant's capability.
Check supports(const char* variant, const ab_attention_args& a);

/// Runs `variant` on `a` (buffers are host pointers). Checks supports() first.
/// Writes every valid row of O; rows past a varlen length are left untouched.
Check run_variant(const char* variant, const ab_attention_args& a);

/// The variants themselves (no checks; `a` must have passed supports()).
void reference_attention_cpu(const ab_attention_args& a);
void naive_attention(const ab_attention_args& a);
void flash_attention(const ab_attention_args& a);
void decode_attention(const ab_attention_args& a);

/// Measured peaks of the cores of the current task arena.
struct CpuPeaks {
  double flops_f32 = 0;         // FLOP/s, fp32 FMA, all threads
  double bytes_per_second = 0;  // sustained read bandwidth, all threads
};

/// fp32 FMA throughput of all threads of the current arena: independent FMA chains
/// on every thread, best of `trials` runs of about `seconds_per_trial` each.
double measure_peak_flops(int trials = 5, double seconds_per_trial = 0.04);

/// Sustained read bandwidth: all threads sum disjoint slices of an array of
/// `bytes` (well beyond the last-level cache); best of `passes` passes.
double measure_peak_read_bandwidth(size_t bytes = size_t(512) << 20, int passes = 6);

/// Both peaks (~0.5 s).
CpuPeaks measure_peaks();

/// FLOP model of attention for a case: 4 * d * (visible (q, k) pairs) per head.
double attention_flops(const ab_attention_args& a);

/// Minimum bytes moved: Q and O once, plus K and V of every visible key range read
/// once per KV head (the decode byte model; counts only keys some row sees).
double attention_bytes(const ab_attention_args& a);

}  // namespace attnbench::cpu

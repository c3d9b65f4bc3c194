// Public interface of the CPU kernel library (attnbench_cpu_kernels): the variants,
// their capability checks, the peak measurements and the ISA level they run at. The
// plugin (cpu_plugin.cpp) is a thin ABI shim over these; tests and the bench call them.
//
// The kernels themselves are compiled once per ISA level (isa_namespace.h); these entry
// points, compiled for the baseline, run the level active_isa() picked for this CPU.
// Every kernel runs its parallel loops with oneTBB in the caller's task arena, so the
// caller controls the thread count (tbb::task_arena::execute).
#pragma once

#include <string>

#include "attnbench/plugin_abi.h"
#include "pair_count.h"

namespace attnbench::cpu {

/// Instruction-set levels the kernels are built for, lowest first.
enum class Isa { generic = 0, avx2 = 1, avx512 = 2, avx512bf16 = 3 };

/// The best level this CPU and OS support, whatever this build contains (cpuid, once).
Isa cpu_isa();

/// The best level this CPU and OS support and this build contains (cpuid, once).
Isa best_isa();

/// The level the kernels run at: best_isa() capped by the environment variable
/// ATTNBENCH_CPU_ISA=generic|avx2|avx512|avx512bf16 (read once; an unknown value is
/// ignored). The tests force the lower levels with it.
Isa active_isa();

/// "generic", "avx2", "avx512" or "avx512bf16".
const char* isa_name(Isa isa);

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

/// Runs `variant` on `a` (buffers are host pointers) at the active ISA level. Checks
/// supports() first. Writes every valid row of O; rows past a varlen length are left
/// untouched.
Check run_variant(const char* variant, const ab_attention_args& a);

/// Whether `variant` has a backward pass for case `a` (naive and flash: contiguous KV,
/// no varlen, no softcap, head_dim_v = head_dim): AB_UNSUPPORTED with the reason otherwise.
Check supports_backward(const char* variant, const ab_attention_args& a);

/// Runs the backward pass of `variant` (buffers are host pointers) at the active ISA
/// level: writes every row of dQ, dK and dV. Checks supports_backward() first.
Check run_backward_variant(const char* variant, const ab_backward_args& g);

/// Measured peaks of the cores of the current task arena, each with the fastest
/// instruction the active level has for it.
struct CpuPeaks {
  double flops_f32 = 0;         // FLOP/s, fp32 FMA, all threads
  double flops_bf16 = 0;        // FLOP/s, VDPBF16PS (bf16 pairs into fp32); 0 without AVX512-BF16
  double flops_f16 = 0;         // FLOP/s, AVX512-FP16 VFMADDPH; 0 without it (fp16 runs on fp32 FMA)
  double bytes_per_second = 0;  // sustained read bandwidth, all threads
  double bandwidth_bytes = 0;   // size of the buffer the bandwidth was read over
};

/// fp32 FMA throughput of all threads of the current arena: independent FMA chains
/// on every thread, best of `trials` runs of about `seconds_per_trial` each.
double measure_peak_flops(int trials = 5, double seconds_per_trial = 0.04);

/// bf16 dot-product throughput (VDPBF16PS: 2 multiply-adds per fp32 lane), measured
/// like measure_peak_flops; 0 when the active level has no AVX512-BF16.
double measure_peak_flops_bf16(int trials = 5, double seconds_per_trial = 0.04);

/// fp16 FMA throughput (AVX512-FP16 VFMADDPH); 0 when the CPU or the compiler lacks it.
double measure_peak_flops_f16(int trials = 5, double seconds_per_trial = 0.04);

/// Total last-level cache of the machine from sysfs (the caches of the highest level,
/// one per distinct set of CPUs sharing it); 0 when sysfs does not say.
size_t last_level_cache_bytes();

/// Buffer size for the bandwidth peak: 4x the last-level cache, at least 512 MiB, at most
/// a quarter of physical memory (but never below 4x the LLC when that fits in half).
size_t bandwidth_buffer_bytes();

/// Sustained read bandwidth: all threads sum disjoint slices of an array of `bytes`
/// (0: bandwidth_buffer_bytes()); best of `passes` passes.
double measure_peak_read_bandwidth(size_t bytes = 0, int passes = 6);

/// All peaks (~1 s).
CpuPeaks measure_peaks();

/// FLOP model of attention for a case: 2 * (d + dv) * (visible (q, k) pairs) per head.
double attention_flops(const ab_attention_args& a);

/// Minimum bytes moved: Q and O once, plus K and V of every visible key range read
/// once per KV head (the decode byte model; counts only keys some row sees).
double attention_bytes(const ab_attention_args& a);

}  // namespace attnbench::cpu

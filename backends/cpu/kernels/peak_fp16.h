// The AVX512-FP16 peak loop, in its own translation unit built with -mavx512fp16 when
// the compiler has it (ATTNBENCH_CPU_HAVE_FP16_PEAK); called only on CPUs with the
// feature. Nothing else of the kernels uses FP16 arithmetic: VFMADDPH accumulates in
// fp16, too coarse for a softmax sum, so fp16 attention runs on converts + fp32 FMA.
#pragma once

namespace attnbench::cpu::fp16_peak {

/// FLOP per iteration of fma_loop (16 chains x 32 fp16 lanes x 2).
inline constexpr double kFlopsPerIter = 2.0 * 16 * 32;

/// kFlopsPerIter * iters FLOP of independent VFMADDPH chains on this thread.
void fma_loop(long iters);

}  // namespace attnbench::cpu::fp16_peak

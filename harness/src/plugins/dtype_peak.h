// The compute peak a case of a given dtype is judged against: the backend's peak for
// that dtype where it measured one, else the next more general one (bf16 -> the 16-bit
// matrix peak -> fp32, fp16 -> the 16-bit peak -> fp32), so that fraction_peak_flops is
// each case's fraction of the peak of its own dtype.
#pragma once

#include "attnbench/plugin_abi.h"

namespace attnbench {

/// FLOP/s peak for dtype t (0 only when the backend measured no compute peak at all).
inline double dtype_peak_flops(const ab_peaks& p, ab_dtype t) {
  if (t == AB_BF16 && p.flops_bf16 > 0) return p.flops_bf16;
  if (t != AB_F32 && p.flops_f16 > 0) return p.flops_f16;
  return p.flops_f32;
}

}  // namespace attnbench

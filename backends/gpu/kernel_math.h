// Softmax arithmetic shared verbatim by the CUDA/HIP kernels and the CPU emulation
// (host_emulation.cpp), so CPU tests exercise the exact update and merge rules the
// device runs. C++17, no standard library beyond <math.h>, host/device safe.
#pragma once

#include <math.h>

#include "attnbench/attention_hooks.h"
#include "attnbench/device_compat.h"

namespace attnbench::gpu {

/// -inf as a float constant usable in host and device code.
AB_INLINE float neg_inf() { return -INFINITY; }

/// tanhf behind a plain function so LogitsHook::apply gets a pointer it can inline.
AB_INLINE float tanh_f32(float x) { return tanhf(x); }

/// Scaled, soft-capped logit of one raw dot product: LogitsHook::apply itself, so the
/// GPU kernels, the CPU backend and the oracle share one definition.
AB_INLINE float apply_logits(const LogitsHook& h, float raw) { return h.apply<float>(raw, tanh_f32); }

/// exp and log in base e (the SIMT kernels and the emulation): logits as they are.
struct BaseE {
  AB_INLINE static float exp(float x) { return expf(x); }
  AB_INLINE static float log(float x) { return logf(x); }
  AB_INLINE static float to_natural(float x) { return x; }
};

/// log2(e) and ln(2): a logit x in base 2 is x * log2(e), so exp(x - m) = exp2(x' - m').
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

/// 2^x by the hardware's approximate exp2 on NVIDIA devices (MUFU.EX2, 2 ulp;
/// subnormal results flush to 0, far below a probability that could move the output);
/// exp2f elsewhere. 2^-inf = 0.
AB_INLINE float exp2_fast(float x) {
#if defined(__CUDA_ARCH__)
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
#else
  return exp2f(x);
#endif
}

/// exp and log in base 2 (the MMA kernel): logits arrive multiplied by log2(e), so one
/// FMA (scale * log2(e) folded into the scale) and one exp2 replace a multiply and expf.
struct Base2 {
  AB_INLINE static float exp(float x) { return exp2_fast(x); }
  AB_INLINE static float log(float x) { return log2f(x); }
  AB_INLINE static float to_natural(float x) { return x * kLn2; }
};

/// Running state of one query row under the online softmax (FlashAttention):
/// m = max logit seen, l = sum of exp(logit - m), with exp in the given base (logits in
/// that base's units). The output accumulator lives with the caller and is rescaled by
/// the factor rescale() returns.
template <class Base>
struct OnlineSoftmaxIn {
  float m;
  float l;

  AB_INLINE static OnlineSoftmaxIn start() { return OnlineSoftmaxIn{neg_inf(), 0.0f}; }

  /// Folds in a tile whose largest logit is tile_max; returns the factor to
  /// multiply the existing accumulator (and l, done here) by. A fully masked
  /// tile (tile_max = -inf) leaves everything as is (factor 1).
  AB_INLINE float rescale(float tile_max) {
    const float m_new = fmaxf(m, tile_max);
    if (m_new == neg_inf()) return 1.0f;  // nothing visible yet: avoid inf - inf
    const float alpha = (m == neg_inf()) ? 0.0f : Base::exp(m - m_new);
    m = m_new;
    l *= alpha;
    return alpha;
  }

  /// Unnormalised probability of a logit under the current max (0 for masked keys).
  AB_INLINE float prob(float logit) const {
    return (logit == neg_inf() || m == neg_inf()) ? 0.0f : Base::exp(logit - m);
  }

  /// Adds the tile's probability mass (sum of prob() over its keys).
  AB_INLINE void add(float mass) { l += mass; }

  /// 1/l, or 0 for a row that saw no visible key (the oracle writes zeros there).
  AB_INLINE float inv_sum() const { return l > 0.0f ? 1.0f / l : 0.0f; }

  /// Natural log-sum-exp of the logits seen, -inf when none was visible.
  AB_INLINE float lse() const { return l > 0.0f ? Base::to_natural(m + Base::log(l)) : neg_inf(); }
};
using OnlineSoftmax = OnlineSoftmaxIn<BaseE>;
using OnlineSoftmax2 = OnlineSoftmaxIn<Base2>;

/// A raw dot product as a base-2 logit for OnlineSoftmax2: without softcap one multiply
/// by scale_log2 = scale * log2(e) (folded once per launch); with softcap the tanh acts on
/// the scaled logit (LogitsHook::apply, unchanged) and only its result is converted.
AB_INLINE float logit_log2(const LogitsHook& h, float scale_log2, float raw) {
  return h.softcap > 0.0f ? apply_logits(h, raw) * kLog2e : raw * scale_log2;
}

/// Weights that merge partial softmax results (flash-decoding): partial s holds
/// the normalised output o_s over its keys and lse_s = log(sum exp logits).
/// The full output is sum_s w_s * o_s with w_s = exp(lse_s - lse_total).
/// Writes w into weights[0..n) and returns lse_total (-inf if all are empty).
AB_INLINE float lse_merge_weights(const float* lse, int n, float* weights) {
  float mx = neg_inf();
  for (int s = 0; s < n; ++s) mx = fmaxf(mx, lse[s]);
  if (mx == neg_inf()) {
    for (int s = 0; s < n; ++s) weights[s] = 0.0f;
    return neg_inf();
  }
  float total = 0.0f;
  for (int s = 0; s < n; ++s) {
    weights[s] = (lse[s] == neg_inf()) ? 0.0f : expf(lse[s] - mx);
    total += weights[s];
  }
  for (int s = 0; s < n; ++s) weights[s] /= total;
  return mx + logf(total);
}

/// Merges one output element across n partials laid out with stride `stride`
/// (partials[s * stride]) using weights from lse_merge_weights.
AB_INLINE float lse_merge_value(const float* partials, size_t stride, const float* weights, int n) {
  float acc = 0.0f;
  for (int s = 0; s < n; ++s)
    if (weights[s] != 0.0f) acc += weights[s] * partials[static_cast<size_t>(s) * stride];
  return acc;
}

}  // namespace attnbench::gpu

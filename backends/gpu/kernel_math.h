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

/// Running state of one query row under the online softmax (FlashAttention):
/// m = max logit seen, l = sum of exp(logit - m). The output accumulator lives
/// with the caller and is rescaled by the factor rescale() returns.
struct OnlineSoftmax {
  float m;
  float l;

  AB_INLINE static OnlineSoftmax start() { return OnlineSoftmax{neg_inf(), 0.0f}; }

  /// Folds in a tile whose largest logit is tile_max; returns the factor to
  /// multiply the existing accumulator (and l, done here) by. A fully masked
  /// tile (tile_max = -inf) leaves everything as is (factor 1).
  AB_INLINE float rescale(float tile_max) {
    const float m_new = fmaxf(m, tile_max);
    if (m_new == neg_inf()) return 1.0f;  // nothing visible yet: avoid inf - inf
    const float alpha = (m == neg_inf()) ? 0.0f : expf(m - m_new);
    m = m_new;
    l *= alpha;
    return alpha;
  }

  /// Unnormalised probability of a logit under the current max (0 for masked keys).
  AB_INLINE float prob(float logit) const {
    return (logit == neg_inf() || m == neg_inf()) ? 0.0f : expf(logit - m);
  }

  /// Adds the tile's probability mass (sum of prob() over its keys).
  AB_INLINE void add(float mass) { l += mass; }

  /// 1/l, or 0 for a row that saw no visible key (the oracle writes zeros there).
  AB_INLINE float inv_sum() const { return l > 0.0f ? 1.0f / l : 0.0f; }

  /// log-sum-exp of the logits seen, -inf when none was visible.
  AB_INLINE float lse() const { return l > 0.0f ? m + logf(l) : neg_inf(); }
};

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

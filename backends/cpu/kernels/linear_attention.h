// Tier-2 linear attention on the CPU backend (catalog: `linear`, `based`).
//
// linear: O_i = phi(q_i) S_i / phi(q_i) z_i with S_i = sum_{j visible} phi(k_j) v_j^T and
//   z_i = sum_{j visible} phi(k_j), in the blockwise form of Lightning Attention: query
//   blocks of `block` rows; keys before the block live in a running state (S: D x d,
//   z: D, D = feature dim), keys inside the block are handled by a masked quadratic
//   product. Causal or non-causal; no sliding-window mask (see `based`).
//   Options: feature=elu1|relu|taylor|performer (default elu1), block=64,
//   features=64 (performer m), fdim (q, k projected to their first fdim dims before the
//   map; default d, 16 for taylor as in BASED).
// based (causal only): the last `swa` keys of every query (itself included) get exact
//   softmax weights exp(q.k * scale); older keys go through Taylor linear attention on the
//   first `fdim` dims (default 16); O = (num_swa + num_lin) / (den_swa + den_lin)
//   (max-stabilised). Options: fdim=16, swa=64 (window; "window=" is the mask option),
//   block=64, linear=1 (0 disables the linear part: pure sliding-window softmax).
// Both: no softcap, no mask window, contiguous KV; rows that see no key (or get a
// non-positive normaliser, possible with relu) are written as zeros.
#pragma once

#include <cstdint>
#include <vector>

#include "cpu_kernels.h"
#include "extra_variants.h"
#include "linear_feature_maps.h"

AB_CPU_NS_BEGIN

/// Parsed options of `linear` / `based`.
struct LinearOptions {
  linear_attn::FeatureKind feature = linear_attn::FeatureKind::elu1;
  int block = 64;
  int features = 64;  ///< performer m
  int fdim = 0;       ///< map input dims (0 until resolved against head_dim)
  int swa = 64;       ///< based: softmax window (keys, the query's own included)
  bool linear = true; ///< based: linear part on
};

/// Parses and range-checks `linear` options for case `a` (AB_INVALID_ARGUMENT on a bad one).
Check parse_linear_options(const ab_attention_args& a, const VariantOptions& o, LinearOptions* out);

/// Parses and range-checks `based` options for case `a`.
Check parse_based_options(const ab_attention_args& a, const VariantOptions& o, LinearOptions* out);

/// Capability check of `linear` (options, mask, softcap, state size).
Check linear_supports(const ab_attention_args& a, const VariantOptions& o);

/// Runs `linear` (causal or not) on a validated case.
void linear_run(const ab_attention_args& a, const VariantOptions& o);

/// Capability check of `based`.
Check based_supports(const ab_attention_args& a, const VariantOptions& o);

/// Runs `based` on a validated case.
void based_run(const ab_attention_args& a, const VariantOptions& o);

/// Running linear-attention state of one (batch, head): S (D x d) and z (D) over the
/// keys absorbed so far, plus the feature map applied to (the first fdim dims of) rows.
class LinearState {
 public:
  /// A state for feature map `opt` on rows of head_dim d.
  LinearState(const LinearOptions& opt, int d);
  /// Feature dimension D.
  int64_t dim() const { return D_; }
  /// Clears S and z.
  void reset();
  /// phi of an fp32 row of head_dim values (uses its first fdim) into phi[0..D).
  void features(const float* row, float* phi) const;
  /// Adds phi(k) v^T for n keys whose features (n x D) and values (n x d) are given.
  void absorb(const float* phi_k, const float* v, int n);
  /// num[0..d) += phi_q S and returns phi_q . z.
  float read(const float* phi_q, float* num) const;

 private:
  LinearOptions opt_;
  int d_;
  int64_t D_;
  std::vector<float> proj_;  // performer projection
  std::vector<float> S_, z_;
};

AB_CPU_NS_END

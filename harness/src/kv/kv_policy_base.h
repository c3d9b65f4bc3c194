// Shared pieces of the built-in policies: the parsed-config base class, plan writers,
// and the score calls most methods make (observation scores over all keys or over
// per-head key lists). Host code here only books indices and sizes; every score comes
// from the backend's primitives.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kv_config.h"
#include "kv_policy.h"
#include "kv_primitives.h"

namespace attnbench::kv {

/// Base of the built-in methods: keeps the parsed config.
class ConfigPolicy : public KvPolicy {
 public:
  explicit ConfigPolicy(KvParams p) : p_(std::move(p)) {}
  std::string name() const override { return p_.name; }
  bool needs_queries() const override { return false; }
  const KvParams& params() const { return p_; }
  /// Bytes per stored fp element (default 2 = fp16).
  int32_t elem_bytes() const { return static_cast<int32_t>(p_.geti("elem_bytes", 2)); }

 protected:
  KvParams p_;
};

/// Base of token-eviction methods: requested bytes = Hkv * min(budget, Lk) fp tokens.
class EvictionPolicy : public ConfigPolicy {
 public:
  using ConfigPolicy::ConfigPolicy;
  uint64_t requested_bytes(const ab_kv_layer& layer, int32_t elem_bytes) const override;
};

/// Base of the cross-layer methods (cla, tidal): compress() runs compress_layer with an
/// empty context, so a layer that depends on earlier ones (a shared cache, a reused
/// selection) refuses with the reason instead of answering a plan that means nothing alone.
class CrossLayerPolicy : public ConfigPolicy {
 public:
  using ConfigPolicy::ConfigPolicy;
  bool cross_layer() const override { return true; }
  void compress(const ab_kv_env& env, const ab_kv_layer& layer, int32_t elem_bytes, ab_kv_plan& plan) const override;
};

/// Validates a layer's shape and buffers; throws std::invalid_argument.
void validate_layer(const ab_kv_layer& layer, bool needs_queries);

/// 0, 1, ..., n - 1.
std::vector<int32_t> all_tokens(int32_t n);

/// Writes head j's kept slots (ascending, at most one trailing -1) and stored bytes.
void set_head(ab_kv_plan& plan, int32_t j, const std::vector<int32_t>& kept, uint64_t bytes);

/// Writes every head's kept tokens, stored at full precision (elem_bytes per element).
void keep_tokens(ab_kv_plan& plan, const ab_kv_layer& layer, const std::vector<std::vector<int32_t>>& kept,
                 int32_t elem_bytes);

/// Adds a method-specific metric to the plan; throws when the plan is full.
void add_metric(ab_kv_plan& plan, const char* name, double value);

/// Logit scale of the layer: 1/sqrt(head_dim).
float logit_scale(const ab_kv_layer& layer);

/// Observation scores of prompt rows [row0, row0 + n_obs) over every key, causal (row t
/// sees keys <= t), summed over rows (with `weights` when given) and over the GQA group,
/// max-pooled over `pool` slots below `pool_end` when pool > 1. Device [heads_kv, len_k].
KvBuffer causal_scores(KvPrimitives& prims, const ab_kv_layer& layer, int32_t row0, int32_t n_obs,
                       const std::vector<float>* weights = nullptr, int32_t pool = 1, int32_t pool_end = 0);

/// Attention probabilities of decode queries q [heads_q, n_rows, head_dim] (device; at
/// position len_k, so every key is visible) over every key, summed over the rows and the
/// GQA group. Device [heads_kv, len_k].
KvBuffer decode_scores(KvPrimitives& prims, const ab_kv_layer& layer, ab_buffer q, int32_t n_rows);

/// Observation scores of prompt rows [row0, row0 + n_obs) over each KV head's key list
/// keys[j] (ascending), summed over rows and the group, causal when `causal`; returns
/// host scores [heads_kv][keys[j].size()]. `scratch` (reused across calls) holds the output.
std::vector<std::vector<float>> scores_over(KvPrimitives& prims, const ab_kv_layer& layer, int32_t row0,
                                            int32_t n_obs, bool causal,
                                            const std::vector<std::vector<int32_t>>& keys, KvBuffer& scratch);

// Factories, one per method (defined in the method family files).
std::unique_ptr<KvPolicy> make_full(const KvParams&);
std::unique_ptr<KvPolicy> make_streaming(const KvParams&);
std::unique_ptr<KvPolicy> make_h2o(const KvParams&);
std::unique_ptr<KvPolicy> make_a2sf(const KvParams&);
std::unique_ptr<KvPolicy> make_tova(const KvParams&);
std::unique_ptr<KvPolicy> make_snapkv(const KvParams&);
std::unique_ptr<KvPolicy> make_pyramidkv(const KvParams&);
std::unique_ptr<KvPolicy> make_l2norm(const KvParams&);
std::unique_ptr<KvPolicy> make_expected_attention(const KvParams&);
std::unique_ptr<KvPolicy> make_duo(const KvParams&);
std::unique_ptr<KvPolicy> make_razor(const KvParams&);
std::unique_ptr<KvPolicy> make_kivi(const KvParams&);
std::unique_ptr<KvPolicy> make_int8(const KvParams&);
std::unique_ptr<KvPolicy> make_random(const KvParams&);
std::unique_ptr<KvPolicy> make_retrieval_offload(const KvParams&);
std::unique_ptr<KvPolicy> make_leank(const KvParams&);
std::unique_ptr<KvPolicy> make_spatten(const KvParams&);
std::unique_ptr<KvPolicy> make_cla(const KvParams&);
std::unique_ptr<KvPolicy> make_tidal(const KvParams&);

}  // namespace attnbench::kv

// One path from a method's plan to measured outputs, for every method (built in or
// plugged in) on every backend with KV primitives: the plan's host memory (PlanBuffers),
// the budget check (bytes == requested, per-head bytes > 0, kept slots sane, so a method
// that silently keeps everything fails), the cache built on the backend (compact with the
// kept slots and channel mask, then quantize when the plan asks), and decode of query
// rows over it (run_attention "decode" with one sequence per KV head, or quant_decode).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kv_policy.h"
#include "kv_primitives.h"

namespace attnbench::kv {

/// Host memory of one layer's plan, initialised as ab_kv_plan documents (mask all 1).
class PlanBuffers {
 public:
  explicit PlanBuffers(const ab_kv_layer& layer);
  PlanBuffers(const PlanBuffers&) = delete;
  PlanBuffers& operator=(const PlanBuffers&) = delete;
  ab_kv_plan& plan() { return plan_; }
  const ab_kv_plan& plan() const { return plan_; }
  /// Kept slots of head j (positions, -1 for a compensation slot).
  std::vector<int32_t> kept(int32_t j) const;
  /// kept(j) for every head.
  std::vector<std::vector<int32_t>> kept_lists() const;
  /// Sum of bytes_per_head.
  uint64_t bytes() const;
  /// The plan's method-specific metrics by name.
  std::map<std::string, double> metrics() const;
  /// The key channel mask [heads_kv, head_dim] (all 1 unless the plan uses it).
  const std::vector<uint8_t>& channel_mask() const { return mask_; }

 private:
  int32_t heads_kv_, head_dim_;
  std::vector<int32_t> kept_, count_;
  std::vector<uint8_t> mask_;
  std::vector<uint64_t> bytes_;
  ab_kv_plan plan_{};
};

/// Result of a budget check.
struct BudgetCheck {
  bool ok = false;
  uint64_t requested = 0, kept = 0;
  std::string error;  ///< why it failed (empty when ok)
};

/// Bytes per stored fp element of a config ("elem_bytes", default 2).
int32_t config_elem_bytes(const std::string& config);

/// Checks a plan against the configuration: every head keeps 1..kept_stride slots in
/// ascending order inside [0, len_k) with at most one trailing -1, reports bytes > 0, a
/// channel mask keeps a channel, and the bytes kept equal the bytes the configuration asks for.
BudgetCheck check_plan(const KvPolicy& policy, const ab_kv_layer& layer, int32_t elem_bytes, const PlanBuffers& plan);

/// A compressed cache on the backend.
struct BuiltCache {
  KvBuffer k, v;                ///< compact [heads_kv, stride, head_dim]
  KvBuffer quant;               ///< the quantised cache when `quantised`
  int32_t stride = 0;           ///< slots per head in the compact layout
  std::vector<int32_t> counts;  ///< slots of each head
  bool quantised = false;
  ab_kv_quant_spec spec{};
};

/// Builds the plan's cache from the layer's K/V with compact (and quantize).
BuiltCache build_cache(KvPrimitives& prims, const ab_kv_layer& layer, const ab_kv_plan& plan);

/// Decodes query rows q [heads_q, n_q, head_dim] (host, f32) over the cache; returns
/// O [heads_q, n_q, head_dim]. Output buffers are poisoned first, so a row the backend
/// leaves unwritten reads NaN.
std::vector<float> decode_cache(KvPrimitives& prims, const ab_kv_layer& layer, const BuiltCache& cache,
                                const std::vector<float>& q, int32_t n_q);

/// Backend-measured seconds of every KV primitive this thread has called (all
/// KvPrimitives instances together: a policy opens its own over the same env).
double thread_kv_seconds();

}  // namespace attnbench::kv

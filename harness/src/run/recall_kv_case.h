// One KV-method recall case on one backend's primitives: uploads the case's K, V and
// context queries, runs the policy, checks its plan, builds the compressed cache on the
// backend, decodes the questions over it, downloads O and scores it on the host against
// the fp64 full-cache oracle. Shared by the worker's executor and the tests.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kv_plan_executor.h"
#include "kv_policy.h"
#include "kv_primitives.h"
#include "recall_generator.h"
#include "recall_oracle.h"

namespace attnbench::kv {

/// A case's layer resident on the backend.
struct DeviceLayer {
  KvBuffer k, v, q;  ///< q: the context queries, empty when the method reads none
  ab_kv_layer layer{};
};

/// Uploads K, V and (when `with_queries`) the context queries of rc.
DeviceLayer upload_layer(KvPrimitives& prims, const recall::RecallCase& rc, bool with_queries, int32_t layer = 0,
                         int32_t num_layers = 1);

/// Everything one run of a method on a case produced.
struct KvCaseRun {
  BudgetCheck budget;
  RecallMetrics metrics;                  ///< scored only when the budget check passed
  std::map<std::string, double> extra;    ///< the plan's method-specific metrics
  std::vector<std::vector<int32_t>> kept; ///< kept slots per KV head
  std::vector<uint8_t> channel_mask;      ///< [heads_kv, head_dim] when the plan used one
  std::vector<float> o;                   ///< decode output [heads_q, n_q, head_dim]
  double compress_wall = 0;               ///< seconds: policy + building the cache
  double compress_kernel = 0;             ///< backend-measured seconds of those primitives
  double decode_kernel = 0;               ///< backend-measured seconds of the decode
};

/// Runs `policy` on the uploaded layer and decodes rc's questions (see the file comment).
/// Throws KvUnsupported, KvPrimitiveError, std::invalid_argument for bad options.
KvCaseRun run_kv_case(const ab_kv_env& env, const recall::RecallCase& rc, const KvPolicy& policy, DeviceLayer& dev);

/// The layers of one case, run in order (layer 0 first) by any policy: a per-layer
/// method goes through run_kv_case; a cross-layer method (KvPolicy::cross_layer) gets the
/// case's CrossLayerContext with each layer's decode queries, and a layer that shares an
/// earlier cache (cla) decodes over the latest cache a layer stored, which the chain
/// keeps with that layer's host K/V for the oracle.
class LayerChain {
 public:
  LayerChain(const ab_kv_env& env, const KvPolicy& policy) : env_(env), policy_(policy) {}
  /// Runs the policy on the next layer of the case: rc and dev (upload_layer with the
  /// layer's index) must come in layer order. Throws as run_kv_case does.
  KvCaseRun run(const recall::RecallCase& rc, DeviceLayer& dev);

 private:
  /// The latest layer that stored a cache of its own (what a sharing layer reads).
  struct Stored {
    int32_t layer = -1;
    recall::RecallCase rc;                    ///< that layer's shape and host K, for the oracle
    std::vector<std::vector<int32_t>> kept;
    BuiltCache cache;
  };
  ab_kv_env env_;
  const KvPolicy& policy_;
  CrossLayerContext ctx_;
  Stored stored_;
};

/// run_kv_case after uploading rc (single layer).
KvCaseRun run_kv_case(const ab_kv_env& env, const recall::RecallCase& rc, const std::string& config);

/// Compresses and builds the cache only (what compression timing repeats); returns wall seconds.
double compress_once(const ab_kv_env& env, const KvPolicy& policy, const ab_kv_layer& layer);

}  // namespace attnbench::kv

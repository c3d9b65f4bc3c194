#include "recall_kv_case.h"

#include <chrono>
#include <stdexcept>
#include <string>

#include "kv_config.h"

namespace attnbench::kv {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

DeviceLayer upload_layer(KvPrimitives& prims, const recall::RecallCase& rc, bool with_queries, int32_t layer,
                         int32_t num_layers) {
  DeviceLayer d;
  d.k = prims.upload(rc.k);
  d.v = prims.upload(rc.v);
  if (with_queries) d.q = prims.upload(rc.q_context);
  ab_kv_layer& l = d.layer;
  l.heads_q = rc.heads_q, l.heads_kv = rc.heads_kv, l.len_k = rc.len_k, l.head_dim = rc.head_dim;
  l.k = d.k.get(), l.v = d.v.get(), l.q_context = with_queries ? d.q.get() : nullptr;
  l.layer = layer, l.num_layers = num_layers;
  return d;
}

namespace {

/// Records a checked plan in r: budget check, kept slots, method metrics, bytes.
void record_plan(KvCaseRun& r, const KvPolicy& policy, const ab_kv_layer& layer, int32_t eb, const PlanBuffers& pb) {
  r.budget = check_plan(policy, layer, eb, pb);
  r.kept = pb.kept_lists();
  r.extra = pb.metrics();
  if (pb.plan().use_channel_mask) r.channel_mask = pb.channel_mask();
  r.metrics.kv_bytes = pb.bytes();
  r.metrics.full_bytes = layer.heads_kv * token_bytes(layer.len_k, layer.head_dim, eb);
  r.metrics.compression_ratio = r.metrics.kv_bytes ? static_cast<double>(r.metrics.full_bytes) / r.metrics.kv_bytes : 0.0;
}

/// Ends the compression step begun at (t0, k0 = thread_kv_seconds()), then decodes rc's
/// questions over `cache` (holding the K/V of read_from, nullptr = rc) and scores them;
/// r.kept must list the cache's positions.
void decode_and_score(KvCaseRun& r, KvPrimitives& prims, const recall::RecallCase& rc, const ab_kv_layer& layer,
                      const BuiltCache& cache, const recall::RecallCase* read_from, Clock::time_point t0, double k0) {
  r.compress_wall = seconds_since(t0);
  const double k1 = thread_kv_seconds();
  r.compress_kernel = k1 - k0;
  r.o = decode_cache(prims, layer, cache, rc.q_question, rc.n_questions);
  r.decode_kernel = thread_kv_seconds() - k1;
  const RecallMetrics scored = score_recall(rc, r.kept, r.o, read_from);
  r.metrics.accuracy = scored.accuracy, r.metrics.mass_kept = scored.mass_kept, r.metrics.output_error = scored.output_error;
  r.metrics.ok = scored.ok, r.metrics.error = scored.error;
  r.metrics.topk_overlap = scored.topk_overlap, r.metrics.has_accuracy = scored.has_accuracy;
  r.metrics.compress_seconds = r.compress_wall, r.metrics.decode_seconds = r.decode_kernel;
}

}  // namespace

KvCaseRun run_kv_case(const ab_kv_env& env, const recall::RecallCase& rc, const KvPolicy& policy, DeviceLayer& dev) {
  KvCaseRun r;
  KvPrimitives prims(env);
  const ab_kv_layer& layer = dev.layer;
  const int32_t eb = config_elem_bytes(policy.config());
  PlanBuffers pb(layer);
  const double k0 = thread_kv_seconds();
  const auto t0 = Clock::now();
  policy.compress(env, layer, eb, pb.plan());
  record_plan(r, policy, layer, eb, pb);
  if (!r.budget.ok) return r;
  const BuiltCache cache = build_cache(prims, layer, pb.plan());
  decode_and_score(r, prims, rc, layer, cache, nullptr, t0, k0);
  return r;
}

KvCaseRun LayerChain::run(const recall::RecallCase& rc, DeviceLayer& dev) {
  if (!policy_.cross_layer()) return run_kv_case(env_, rc, policy_, dev);
  KvCaseRun r;
  KvPrimitives prims(env_);
  const ab_kv_layer& layer = dev.layer;
  const int32_t eb = config_elem_bytes(policy_.config());
  // The decode queries reach the policy only here: decode-time selection (tidal) reads them.
  const KvBuffer q_decode = prims.upload(rc.q_question);
  ctx_.q_decode = q_decode.get(), ctx_.n_decode = rc.n_questions, ctx_.shared_from = -1;
  PlanBuffers pb(layer);
  const double k0 = thread_kv_seconds();
  const auto t0 = Clock::now();
  policy_.compress_layer(env_, layer, eb, ctx_, pb.plan());
  ctx_.q_decode = nullptr;
  if (ctx_.shared_from < 0) {
    record_plan(r, policy_, layer, eb, pb);
    if (!r.budget.ok) return r;
    stored_.cache = build_cache(prims, layer, pb.plan());
    stored_.layer = layer.layer, stored_.kept = r.kept;
    stored_.rc = recall::RecallCase{};  // the oracle reads the shape and K only
    stored_.rc.heads_q = rc.heads_q, stored_.rc.heads_kv = rc.heads_kv, stored_.rc.len_k = rc.len_k;
    stored_.rc.head_dim = rc.head_dim, stored_.rc.k = rc.k;
    decode_and_score(r, prims, rc, layer, stored_.cache, nullptr, t0, k0);
    return r;
  }
  // A sharing layer stores nothing and reads the stored layer's cache with its own queries.
  if (ctx_.shared_from != stored_.layer || ctx_.shared_from >= layer.layer)
    throw std::logic_error(policy_.name() + ": layer " + std::to_string(layer.layer) + " shares layer " +
                           std::to_string(ctx_.shared_from) + "'s cache, but the latest layer that stored one is " +
                           std::to_string(stored_.layer));
  r.budget.requested = policy_.requested_bytes(layer, eb);
  r.budget.ok = r.budget.requested == 0;
  if (!r.budget.ok)
    r.budget.error = policy_.config() + " stores nothing on a sharing layer but its budget asks for " +
                     std::to_string(r.budget.requested) + " bytes";
  r.kept = stored_.kept;
  r.metrics.full_bytes = layer.heads_kv * token_bytes(layer.len_k, layer.head_dim, eb);
  if (!r.budget.ok) return r;
  decode_and_score(r, prims, rc, layer, stored_.cache, &stored_.rc, t0, k0);
  return r;
}

KvCaseRun run_kv_case(const ab_kv_env& env, const recall::RecallCase& rc, const std::string& config) {
  const auto policy = make_kv_policy(config);
  KvPrimitives prims(env);
  DeviceLayer dev = upload_layer(prims, rc, policy->needs_queries());
  return run_kv_case(env, rc, *policy, dev);
}

double compress_once(const ab_kv_env& env, const KvPolicy& policy, const ab_kv_layer& layer) {
  KvPrimitives prims(env);
  PlanBuffers pb(layer);
  const auto t0 = Clock::now();
  policy.compress(env, layer, config_elem_bytes(policy.config()), pb.plan());
  const BuiltCache cache = build_cache(prims, layer, pb.plan());
  return seconds_since(t0);
}

}  // namespace attnbench::kv

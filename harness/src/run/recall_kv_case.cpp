#include "recall_kv_case.h"

#include <chrono>

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

KvCaseRun run_kv_case(const ab_kv_env& env, const recall::RecallCase& rc, const KvPolicy& policy, DeviceLayer& dev) {
  KvCaseRun r;
  KvPrimitives prims(env);
  const ab_kv_layer& layer = dev.layer;
  const int32_t eb = config_elem_bytes(policy.config());
  PlanBuffers pb(layer);
  const double k0 = thread_kv_seconds();
  const auto t0 = Clock::now();
  policy.compress(env, layer, eb, pb.plan());
  r.budget = check_plan(policy, layer, eb, pb);
  r.kept = pb.kept_lists();
  r.extra = pb.metrics();
  if (pb.plan().use_channel_mask) r.channel_mask = pb.channel_mask();
  r.metrics.kv_bytes = pb.bytes();
  r.metrics.full_bytes = layer.heads_kv * token_bytes(layer.len_k, layer.head_dim, eb);
  r.metrics.compression_ratio = r.metrics.kv_bytes ? static_cast<double>(r.metrics.full_bytes) / r.metrics.kv_bytes : 0.0;
  if (!r.budget.ok) return r;
  const BuiltCache cache = build_cache(prims, layer, pb.plan());
  r.compress_wall = seconds_since(t0);
  const double k1 = thread_kv_seconds();
  r.compress_kernel = k1 - k0;
  r.o = decode_cache(prims, layer, cache, rc.q_question, rc.n_questions);
  r.decode_kernel = thread_kv_seconds() - k1;
  const RecallMetrics scored = score_recall(rc, r.kept, r.o);
  r.metrics.accuracy = scored.accuracy, r.metrics.mass_kept = scored.mass_kept, r.metrics.output_error = scored.output_error;
  r.metrics.ok = scored.ok, r.metrics.error = scored.error;
  r.metrics.topk_overlap = scored.topk_overlap, r.metrics.has_accuracy = scored.has_accuracy;
  r.metrics.compress_seconds = r.compress_wall, r.metrics.decode_seconds = r.decode_kernel;
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

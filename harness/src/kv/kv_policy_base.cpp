#include "kv_policy_base.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <stdexcept>

namespace attnbench::kv {

uint64_t EvictionPolicy::requested_bytes(const ab_kv_layer& layer, int32_t /*elem_bytes: the config's own*/) const {
  return layer.heads_kv * token_bytes(budget_tokens(p_, layer.len_k), layer.head_dim, elem_bytes());
}

void CrossLayerPolicy::compress(const ab_kv_env& env, const ab_kv_layer& layer, int32_t elem_bytes, ab_kv_plan& plan) const {
  CrossLayerContext ctx;
  compress_layer(env, layer, elem_bytes, ctx, plan);
  if (ctx.shared_from >= 0)
    throw std::invalid_argument(name() + ": layer " + std::to_string(layer.layer) + " stores no cache, it decodes over layer " +
                                std::to_string(ctx.shared_from) + "'s: run the case's layers in order (compress_layer)");
}

void validate_layer(const ab_kv_layer& in, bool needs_queries) {
  if (in.heads_kv <= 0 || in.heads_q <= 0 || in.len_k <= 0 || in.head_dim <= 0 || !in.k || !in.v)
    throw std::invalid_argument("kv: empty or malformed cache");
  if (in.heads_q % in.heads_kv) throw std::invalid_argument("kv: heads_q must be a multiple of heads_kv");
  if (needs_queries && !in.q_context) throw std::invalid_argument("kv: method needs the context queries (q_context)");
}

std::vector<int32_t> all_tokens(int32_t n) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

void set_head(ab_kv_plan& plan, int32_t j, const std::vector<int32_t>& kept, uint64_t bytes) {
  if (static_cast<int64_t>(kept.size()) > plan.kept_stride)
    throw std::logic_error("kv: a head keeps more slots than the plan holds");
  std::copy(kept.begin(), kept.end(), plan.kept + static_cast<size_t>(j) * plan.kept_stride);
  plan.kept_count[j] = static_cast<int32_t>(kept.size());
  plan.bytes_per_head[j] = bytes;
}

void keep_tokens(ab_kv_plan& plan, const ab_kv_layer& layer, const std::vector<std::vector<int32_t>>& kept,
                 int32_t elem_bytes) {
  for (int32_t j = 0; j < layer.heads_kv; ++j)
    set_head(plan, j, kept[j], token_bytes(kept[j].size(), layer.head_dim, elem_bytes));
}

void add_metric(ab_kv_plan& plan, const char* name, double value) {
  if (plan.n_metrics >= AB_KV_MAX_METRICS) throw std::logic_error("kv: too many plan metrics");
  std::strncpy(plan.metric_name[plan.n_metrics], name, sizeof plan.metric_name[0] - 1);
  plan.metric_name[plan.n_metrics][sizeof plan.metric_name[0] - 1] = '\0';
  plan.metric_value[plan.n_metrics++] = value;
}

float logit_scale(const ab_kv_layer& layer) {
  return static_cast<float>(1.0 / std::sqrt(static_cast<double>(layer.head_dim)));
}

namespace {

ab_kv_score_args score_args(const ab_kv_layer& layer, int32_t row0, int32_t n_obs, const std::vector<int32_t>* q_pos) {
  ab_kv_score_args a{};
  a.heads_q = layer.heads_q, a.heads_kv = layer.heads_kv, a.len_k = layer.len_k, a.head_dim = layer.head_dim;
  a.k = layer.k, a.q = layer.q_context, a.q_rows = layer.len_k;
  a.row0 = row0, a.n_obs = n_obs;
  a.q_pos = q_pos ? q_pos->data() : nullptr;
  a.row_reduce = AB_KV_SUM, a.group_reduce = AB_KV_SUM;
  a.pool = 1, a.pool_end = 0;
  a.scale = logit_scale(layer);
  return a;
}

std::vector<int32_t> row_positions(int32_t row0, int32_t n_obs) {
  std::vector<int32_t> pos(n_obs);
  std::iota(pos.begin(), pos.end(), row0);
  return pos;
}

}  // namespace

KvBuffer causal_scores(KvPrimitives& prims, const ab_kv_layer& layer, int32_t row0, int32_t n_obs,
                       const std::vector<float>* weights, int32_t pool, int32_t pool_end) {
  const std::vector<int32_t> pos = row_positions(row0, n_obs);
  ab_kv_score_args a = score_args(layer, row0, n_obs, &pos);
  a.q_weight = weights ? weights->data() : nullptr;
  a.pool = pool, a.pool_end = pool_end;
  KvBuffer out = prims.alloc(static_cast<size_t>(layer.heads_kv) * layer.len_k * sizeof(float));
  a.scores = out.get();
  prims.observation_scores(a);
  return out;
}

KvBuffer decode_scores(KvPrimitives& prims, const ab_kv_layer& layer, ab_buffer q, int32_t n_rows) {
  ab_kv_score_args a = score_args(layer, 0, n_rows, nullptr);
  a.q = q, a.q_rows = n_rows;
  KvBuffer out = prims.alloc(static_cast<size_t>(layer.heads_kv) * layer.len_k * sizeof(float));
  a.scores = out.get();
  prims.observation_scores(a);
  return out;
}

std::vector<std::vector<float>> scores_over(KvPrimitives& prims, const ab_kv_layer& layer, int32_t row0,
                                            int32_t n_obs, bool causal,
                                            const std::vector<std::vector<int32_t>>& keys, KvBuffer& scratch) {
  const int32_t hkv = layer.heads_kv;
  size_t stride = 1;
  for (const auto& k : keys) stride = std::max(stride, k.size());
  std::vector<int32_t> flat(static_cast<size_t>(hkv) * stride, 0), count(hkv);
  for (int32_t j = 0; j < hkv; ++j) {
    std::copy(keys[j].begin(), keys[j].end(), flat.begin() + static_cast<size_t>(j) * stride);
    count[j] = static_cast<int32_t>(keys[j].size());
  }
  const size_t bytes = static_cast<size_t>(hkv) * stride * sizeof(float);
  if (scratch.bytes() < bytes) scratch = prims.alloc(std::max(bytes, static_cast<size_t>(hkv) * (layer.len_k + 1) * sizeof(float)));
  const std::vector<int32_t> pos = row_positions(row0, n_obs);
  ab_kv_score_args a = score_args(layer, row0, n_obs, causal ? &pos : nullptr);
  a.keys = flat.data(), a.key_count = count.data(), a.keys_stride = static_cast<int32_t>(stride);
  a.scores = scratch.get();
  prims.observation_scores(a);
  const std::vector<float> s = prims.download<float>(scratch.get(), static_cast<size_t>(hkv) * stride);
  std::vector<std::vector<float>> out(hkv);
  for (int32_t j = 0; j < hkv; ++j)
    out[j].assign(s.begin() + static_cast<size_t>(j) * stride, s.begin() + static_cast<size_t>(j) * stride + count[j]);
  return out;
}

}  // namespace attnbench::kv

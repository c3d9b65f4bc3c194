#include "kv_plan_executor.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "kv_config.h"

namespace attnbench::kv {

PlanBuffers::PlanBuffers(const ab_kv_layer& layer) : heads_kv_(layer.heads_kv), head_dim_(layer.head_dim) {
  const int32_t stride = layer.len_k + 1;
  kept_.assign(static_cast<size_t>(heads_kv_) * stride, -1);
  count_.assign(heads_kv_, 0);
  mask_.assign(static_cast<size_t>(heads_kv_) * head_dim_, 1);
  bytes_.assign(heads_kv_, 0);
  plan_.kept = kept_.data();
  plan_.kept_count = count_.data();
  plan_.kept_stride = stride;
  plan_.key_channel_mask = mask_.data();
  plan_.bytes_per_head = bytes_.data();
}

std::vector<int32_t> PlanBuffers::kept(int32_t j) const {
  const int32_t n = std::clamp(count_[j], 0, plan_.kept_stride);
  const auto* p = kept_.data() + static_cast<size_t>(j) * plan_.kept_stride;
  return {p, p + n};
}

std::vector<std::vector<int32_t>> PlanBuffers::kept_lists() const {
  std::vector<std::vector<int32_t>> out;
  for (int32_t j = 0; j < heads_kv_; ++j) out.push_back(kept(j));
  return out;
}

uint64_t PlanBuffers::bytes() const {
  uint64_t s = 0;
  for (uint64_t b : bytes_) s += b;
  return s;
}

std::map<std::string, double> PlanBuffers::metrics() const {
  std::map<std::string, double> m;
  for (int32_t i = 0; i < std::clamp(plan_.n_metrics, 0, AB_KV_MAX_METRICS); ++i) {
    char name[sizeof plan_.metric_name[0] + 1] = {};
    std::memcpy(name, plan_.metric_name[i], sizeof plan_.metric_name[0]);
    m[name] = plan_.metric_value[i];
  }
  return m;
}

int32_t config_elem_bytes(const std::string& config) {
  return static_cast<int32_t>(parse_kv_config(config).geti("elem_bytes", 2));
}

BudgetCheck check_plan(const KvPolicy& policy, const ab_kv_layer& layer, int32_t elem_bytes, const PlanBuffers& pb) {
  BudgetCheck r;
  r.requested = policy.requested_bytes(layer, elem_bytes);
  r.kept = pb.bytes();
  const ab_kv_plan& plan = pb.plan();
  for (int32_t j = 0; j < layer.heads_kv; ++j) {
    const std::string head = "head " + std::to_string(j);
    const int32_t n = plan.kept_count[j];
    if (n <= 0) { r.error = head + " keeps no token"; return r; }
    if (n > plan.kept_stride) { r.error = head + " keeps more slots than the plan holds"; return r; }
    const std::vector<int32_t> kept = pb.kept(j);
    for (int32_t i = 0; i < n; ++i) {
      const int32_t t = kept[i];
      const bool last = i == n - 1;
      if (t == -1 ? !last : (t < 0 || t >= layer.len_k)) { r.error = head + ": slot " + std::to_string(i) + " holds position " + std::to_string(t); return r; }
      if (i > 0 && t != -1 && t <= kept[i - 1]) { r.error = head + ": kept positions are not strictly ascending"; return r; }
    }
    if (n == 1 && kept[0] == -1) { r.error = head + " keeps only a compensation slot"; return r; }
    if (plan.bytes_per_head[j] == 0) { r.error = head + " reports 0 bytes"; return r; }
    if (plan.use_channel_mask) {
      int32_t on = 0;
      for (int32_t c = 0; c < layer.head_dim; ++c) on += plan.key_channel_mask[static_cast<size_t>(j) * layer.head_dim + c] != 0;
      if (on == 0) { r.error = head + " masks every key channel"; return r; }
    }
  }
  if (r.kept != r.requested) {
    char buf[512];
    const std::string config = policy.config();
    std::snprintf(buf, sizeof buf, "%s keeps %llu bytes but its budget asks for %llu (%.3fx)", config.c_str(),
                  static_cast<unsigned long long>(r.kept), static_cast<unsigned long long>(r.requested),
                  r.requested ? static_cast<double>(r.kept) / r.requested : 0.0);
    r.error = buf;
    return r;
  }
  r.ok = true;
  return r;
}

BuiltCache build_cache(KvPrimitives& prims, const ab_kv_layer& layer, const ab_kv_plan& plan) {
  BuiltCache c;
  const int32_t hkv = layer.heads_kv, d = layer.head_dim;
  c.counts.assign(plan.kept_count, plan.kept_count + hkv);
  c.stride = std::max(1, *std::max_element(c.counts.begin(), c.counts.end()));
  // Repack the kept slots to the tightest stride (the plan holds len_k + 1 per head).
  std::vector<int32_t> kept(static_cast<size_t>(hkv) * c.stride, -1);
  for (int32_t j = 0; j < hkv; ++j)
    std::copy_n(plan.kept + static_cast<size_t>(j) * plan.kept_stride, c.counts[j], kept.begin() + static_cast<size_t>(j) * c.stride);
  const size_t bytes = static_cast<size_t>(hkv) * c.stride * d * sizeof(float);
  c.k = prims.alloc(bytes);
  c.v = prims.alloc(bytes);
  ab_kv_compact_args a{};
  a.heads_kv = hkv, a.len_k = layer.len_k, a.head_dim = d;
  a.k = layer.k, a.v = layer.v;
  a.kept = kept.data(), a.kept_count = c.counts.data(), a.kept_stride = c.stride;
  a.key_channel_mask = plan.use_channel_mask ? plan.key_channel_mask : nullptr;
  a.k_out = c.k.get(), a.v_out = c.v.get();
  prims.compact(a);
  if (plan.quantised) {
    c.quantised = true;
    c.spec = plan.quant;
    ab_kv_quant_args q{};
    q.heads_kv = hkv, q.len_k = c.stride, q.head_dim = d, q.spec = c.spec;
    q.len_per_head = c.counts.data();
    q.k = c.k.get(), q.v = c.v.get();
    c.quant = prims.alloc(prims.quant_bytes(q));
    q.out = c.quant.get();
    prims.quantize(q);
    c.k.reset();  // the quantised cache replaces the fp copy
    c.v.reset();
  }
  return c;
}

namespace {

/// Most query rows one decode call takes (the CPU decode variant's limit).
constexpr int32_t kDecodeChunk = 16;

}  // namespace

std::vector<float> decode_cache(KvPrimitives& prims, const ab_kv_layer& layer, const BuiltCache& c,
                                const std::vector<float>& q, int32_t n_q) {
  const int32_t hq = layer.heads_q, hkv = layer.heads_kv, d = layer.head_dim, g = hq / hkv;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  std::vector<float> o(static_cast<size_t>(hq) * n_q * d);
  if (c.quantised) {
    KvBuffer qb = prims.upload(q);
    KvBuffer ob = prims.alloc(o.size() * sizeof(float));
    prims.fill(ob.get(), 0xFF, o.size() * sizeof(float));
    ab_kv_quant_decode_args a{};
    a.heads_q = hq, a.heads_kv = hkv, a.len_k = c.stride, a.head_dim = d, a.spec = c.spec;
    a.len_per_head = c.counts.data(), a.cache = c.quant.get(), a.q = qb.get(), a.n_q = n_q, a.scale = scale, a.o = ob.get();
    prims.quant_decode(a);
    prims.download_bytes(o.data(), ob.get(), o.size() * sizeof(float));
    return o;
  }
  // Each KV head is one sequence of its kept slots: batch = heads_kv, one KV head, the
  // group's query heads, seq_len_k = kept counts. Q [heads_q, n, d] is [batch, g, n, d].
  for (int32_t r0 = 0; r0 < n_q; r0 += kDecodeChunk) {
    const int32_t n = std::min(kDecodeChunk, n_q - r0);
    std::vector<float> qc(static_cast<size_t>(hq) * n * d);
    for (int32_t h = 0; h < hq; ++h)
      std::copy_n(&q[(static_cast<size_t>(h) * n_q + r0) * d], static_cast<size_t>(n) * d, &qc[static_cast<size_t>(h) * n * d]);
    KvBuffer qb = prims.upload(qc);
    KvBuffer ob = prims.alloc(qc.size() * sizeof(float));
    prims.fill(ob.get(), 0xFF, qc.size() * sizeof(float));  // NaN: an unwritten row cannot pass
    ab_attention_args a{};
    a.batch = hkv, a.heads_q = g, a.heads_kv = 1, a.len_q = n, a.len_k = c.stride, a.head_dim = d;
    a.dtype = AB_F32, a.causal = 0, a.window_left = -1, a.window_right = -1, a.scale = scale, a.softcap = 0;
    a.seq_len_k = c.counts.data();
    a.q = qb.get(), a.k = c.k.get(), a.v = c.v.get(), a.o = ob.get();
    prims.attention("decode", a);
    std::vector<float> oc(qc.size());
    prims.download_bytes(oc.data(), ob.get(), oc.size() * sizeof(float));
    for (int32_t h = 0; h < hq; ++h)
      std::copy_n(&oc[static_cast<size_t>(h) * n * d], static_cast<size_t>(n) * d, &o[(static_cast<size_t>(h) * n_q + r0) * d]);
  }
  return o;
}

}  // namespace attnbench::kv

// Random cases of the KV primitives (owning their host data) and two ways to run them
// on host data: the GPU emulation (host pointers) and any plugin through the ABI
// (upload, call, download). Shared by test_gpu_kv_emulation.cpp and test_gpu_plugins.cpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "attnbench/plugin_abi.h"

namespace kvcase {

inline ab_buffer host(const void* p) { return reinterpret_cast<ab_buffer>(const_cast<void*>(p)); }

inline std::vector<float> normal(size_t n, std::mt19937& rng, float sd = 1.0f) {
  std::normal_distribution<float> dist(0.0f, sd);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}
inline int uniform(std::mt19937& rng, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }

/// Sorted random subset of [0, n) of size m.
inline std::vector<int32_t> subset(std::mt19937& rng, int n, int m) {
  std::vector<int32_t> all(n);
  for (int i = 0; i < n; ++i) all[i] = i;
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(m);
  std::sort(all.begin(), all.end());
  return all;
}

/// Observation scores case: GQA groups, key subsets, causal rows, weights, pooling.
struct ScoreCase {
  ab_kv_score_args a{};
  std::vector<float> k, q, w;
  std::vector<int32_t> pos, keys, count;

  static ScoreCase random(std::mt19937& rng) {
    ScoreCase c;
    ab_kv_score_args& a = c.a;
    a.heads_kv = uniform(rng, 1, 3);
    a.heads_q = a.heads_kv * (1 << uniform(rng, 0, 2));
    a.len_k = uniform(rng, 1, 160);
    a.head_dim = std::vector<int>{8, 16, 40, 64}[uniform(rng, 0, 3)];
    // Decode queries (tidal's selection): a few rows of their own, every key visible.
    const bool decode = uniform(rng, 0, 3) == 0;
    a.q_rows = decode ? uniform(rng, 1, 8) : a.len_k;
    a.n_obs = decode ? a.q_rows : uniform(rng, 1, std::min(a.q_rows, 48));
    a.row0 = decode ? 0 : uniform(rng, 0, a.q_rows - a.n_obs);
    a.scale = 1.0f / std::sqrt(float(a.head_dim));
    c.k = normal(size_t(a.heads_kv) * a.len_k * a.head_dim, rng);
    c.q = normal(size_t(a.heads_q) * a.q_rows * a.head_dim, rng, 1.5f);
    if (!decode && uniform(rng, 0, 1)) {  // causal: row r of the prompt sees keys <= its position
      for (int r = 0; r < a.n_obs; ++r) c.pos.push_back(a.row0 + r);
      if (uniform(rng, 0, 3) == 0) c.pos[0] = -1;  // a row that sees no key adds 0
      a.q_pos = c.pos.data();
    }
    if (uniform(rng, 0, 1)) {  // decayed weights (a2sf-like)
      for (int r = 0; r < a.n_obs; ++r) c.w.push_back(std::pow(0.9f, float(a.n_obs - 1 - r)));
      a.q_weight = c.w.data();
    }
    if (uniform(rng, 0, 1)) {  // per-head key subsets of different sizes
      a.keys_stride = uniform(rng, 1, a.len_k);
      c.keys.assign(size_t(a.heads_kv) * a.keys_stride, -7);
      for (int j = 0; j < a.heads_kv; ++j) {
        c.count.push_back(uniform(rng, 0, a.keys_stride));
        const auto s = subset(rng, a.len_k, c.count.back());
        std::copy(s.begin(), s.end(), c.keys.begin() + size_t(j) * a.keys_stride);
      }
      a.keys = c.keys.data();
      a.key_count = c.count.data();
    }
    a.row_reduce = uniform(rng, 0, 1) ? AB_KV_MAX : AB_KV_SUM;
    a.group_reduce = uniform(rng, 0, 1) ? AB_KV_MAX : AB_KV_SUM;
    a.pool = 2 * uniform(rng, 0, 3) + 1;
    const int n_out = a.keys ? a.keys_stride : a.len_k;
    a.pool_end = uniform(rng, 0, 1) ? 0 : uniform(rng, 0, n_out);
    a.k = host(c.k.data());
    a.q = host(c.q.data());
    return c;
  }
  size_t out_count() const { return size_t(a.heads_kv) * (a.keys ? a.keys_stride : a.len_k); }
  /// Whether output slot idx is written (slots past key_count stay untouched).
  bool written(size_t idx) const {
    const int n_out = a.keys ? a.keys_stride : a.len_k;
    return !a.keys || int(idx % n_out) < a.key_count[idx / n_out];
  }
};

/// Statistics case.
struct StatCase {
  ab_kv_stat_args a{};
  std::vector<float> k, q, aux;

  static StatCase random(std::mt19937& rng, ab_kv_stat stat) {
    StatCase c;
    ab_kv_stat_args& a = c.a;
    a.stat = stat;
    a.heads_kv = uniform(rng, 1, 3);
    a.heads_q = a.heads_kv * (1 << uniform(rng, 0, 2));
    a.len_k = uniform(rng, 1, 120);
    a.head_dim = std::vector<int>{4, 16, 32}[uniform(rng, 0, 2)];
    a.q_rows = a.len_k;
    a.n_obs = uniform(rng, 1, a.q_rows);
    a.row0 = a.q_rows - a.n_obs;
    a.scale = 1.0f / std::sqrt(float(a.head_dim));
    c.k = normal(size_t(a.heads_kv) * a.len_k * a.head_dim, rng);
    c.q = normal(size_t(a.heads_q) * a.q_rows * a.head_dim, rng, 0.7f);
    for (float& x : c.q) x += 0.3f;  // a nonzero mean
    a.k = host(c.k.data());
    a.q = host(c.q.data());
    return c;
  }
  size_t out_count() const {
    const size_t d = a.head_dim;
    switch (a.stat) {
      case AB_KV_KEY_L2NORM: case AB_KV_EXPECTED_LOGIT: return size_t(a.heads_kv) * a.len_k;
      case AB_KV_KEY_CHANNEL_ABSMEAN: return a.heads_kv * d;
      case AB_KV_QUERY_MEAN_COV: return a.heads_q * d * (d + 1);
    }
    return 0;
  }
};

/// Top-k case: ties (scores from a few values) and forced ends.
struct TopkCase {
  ab_kv_topk_args a{};
  std::vector<float> s;

  static TopkCase random(std::mt19937& rng, bool ties) {
    TopkCase c;
    ab_kv_topk_args& a = c.a;
    a.rows = uniform(rng, 1, 4);
    a.n = uniform(rng, 1, 700);
    a.k = uniform(rng, 1, a.n);
    a.force_head = uniform(rng, 0, a.k);
    a.force_tail = uniform(rng, 0, a.k - a.force_head);
    c.s = normal(size_t(a.rows) * a.n, rng);
    if (ties)
      for (float& x : c.s) x = std::round(x * 1.5f) * (uniform(rng, 0, 9) ? 1.0f : -0.0f);
    a.scores = host(c.s.data());
    return c;
  }
};

/// Compaction case: kept subsets, compensation slots, channel masks.
struct CompactCase {
  ab_kv_compact_args a{};
  std::vector<float> k, v;
  std::vector<int32_t> kept, count;
  std::vector<uint8_t> mask;

  static CompactCase random(std::mt19937& rng) {
    CompactCase c;
    ab_kv_compact_args& a = c.a;
    a.heads_kv = uniform(rng, 1, 4);
    a.len_k = uniform(rng, 1, 200);
    a.head_dim = std::vector<int>{8, 24, 64}[uniform(rng, 0, 2)];
    a.kept_stride = uniform(rng, 1, a.len_k + 1);
    c.k = normal(size_t(a.heads_kv) * a.len_k * a.head_dim, rng);
    c.v = normal(c.k.size(), rng);
    c.kept.assign(size_t(a.heads_kv) * a.kept_stride, -9);
    for (int j = 0; j < a.heads_kv; ++j) {
      const bool comp = uniform(rng, 0, 1) == 1;
      // A compensation slot needs a dropped token to average.
      const int n = uniform(rng, 0, std::min(a.len_k - (comp ? 1 : 0), a.kept_stride - (comp ? 1 : 0)));
      auto s = subset(rng, a.len_k, n);
      if (comp) s.push_back(-1);
      c.count.push_back(int32_t(s.size()));
      std::copy(s.begin(), s.end(), c.kept.begin() + size_t(j) * a.kept_stride);
    }
    a.kept = c.kept.data();
    a.kept_count = c.count.data();
    if (uniform(rng, 0, 1)) {
      for (int i = 0; i < a.heads_kv * a.head_dim; ++i) c.mask.push_back(uniform(rng, 0, 2) != 0);
      a.key_channel_mask = c.mask.data();
    }
    a.k = host(c.k.data());
    a.v = host(c.v.data());
    return c;
  }
  size_t out_count() const { return size_t(a.heads_kv) * a.kept_stride * a.head_dim; }
  bool written(size_t idx) const {
    const size_t slot = idx / a.head_dim;
    return int(slot % a.kept_stride) < a.kept_count[slot / a.kept_stride];
  }
};

/// Quantise + decode case: 2/4/8 bits, both axes, groups, residual, per-head lengths.
struct QuantCase {
  ab_kv_quant_args qa{};
  ab_kv_quant_decode_args da{};
  std::vector<float> k, v, q;
  std::vector<int32_t> lens;

  static QuantCase random(std::mt19937& rng, int bits) {
    QuantCase c;
    ab_kv_quant_spec s{};
    s.key_bits = bits;
    s.value_bits = uniform(rng, 0, 1) ? bits : std::vector<int>{2, 4, 8}[uniform(rng, 0, 2)];
    s.key_axis = uniform(rng, 0, 3) ? AB_KV_PER_CHANNEL : AB_KV_PER_TOKEN;  // KIVI keys per channel
    s.value_axis = uniform(rng, 0, 3) ? AB_KV_PER_TOKEN : AB_KV_PER_CHANNEL;
    // Per-token groups may be 0 (the whole row); per-channel groups are >= 1 tokens.
    s.key_group = std::vector<int>{0, 8, 16, 32}[uniform(rng, s.key_axis == AB_KV_PER_CHANNEL ? 1 : 0, 3)];
    s.value_group = std::vector<int>{0, 8, 16, 32}[uniform(rng, s.value_axis == AB_KV_PER_CHANNEL ? 1 : 0, 3)];
    s.symmetric = uniform(rng, 0, 2) == 0;
    s.residual = std::vector<int>{0, 5, 32}[uniform(rng, 0, 2)];
    const int hkv = uniform(rng, 1, 3), hq = hkv * (1 << uniform(rng, 0, 2));
    const int len = uniform(rng, 1, 300), d = std::vector<int>{16, 32, 64, 128}[uniform(rng, 0, 3)];
    c.k = normal(size_t(hkv) * len * d, rng);
    c.v = normal(c.k.size(), rng);
    for (int i = 0; i < int(c.k.size()); i += d) c.k[i] *= 6.0f;  // an outlier channel, as in real keys
    const int n_q = uniform(rng, 1, 3);
    c.q = normal(size_t(hq) * n_q * d, rng, 1.5f);
    if (uniform(rng, 0, 1))
      for (int j = 0; j < hkv; ++j) c.lens.push_back(uniform(rng, 0, len));
    ab_kv_quant_args& qa = c.qa;
    qa.heads_kv = hkv; qa.len_k = len; qa.head_dim = d; qa.spec = s;
    qa.len_per_head = c.lens.empty() ? nullptr : c.lens.data();
    qa.k = host(c.k.data());
    qa.v = host(c.v.data());
    ab_kv_quant_decode_args& da = c.da;
    da.heads_q = hq; da.heads_kv = hkv; da.len_k = len; da.head_dim = d; da.spec = s;
    da.len_per_head = qa.len_per_head;
    da.n_q = n_q;
    da.scale = 1.0f / std::sqrt(float(d));
    da.q = host(c.q.data());
    return c;
  }
  size_t out_count() const { return size_t(da.heads_q) * da.n_q * da.head_dim; }
};

/// Largest |x - ref| / max(1, |ref|) over the written elements; a NaN counts as huge.
template <class A, class B, class Written>
double max_rel_err(const A& x, const B& ref, Written written) {
  double e = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!written(i)) continue;
    const double d = std::abs(double(x[i]) - double(ref[i])) / std::max(1.0, std::abs(double(ref[i])));
    e = std::max(e, std::isnan(d) ? 1e30 : d);
  }
  return e;
}

/// A plugin's KV primitives over host data: uploads inputs, poisons outputs (NaN),
/// calls the primitive and downloads the result. Any failure is reported via status.
class PluginRunner {
 public:
  PluginRunner(const ab_plugin* p, void* ctx) : p_(p), ctx_(ctx) {}
  ~PluginRunner() { clear(); }
  PluginRunner(const PluginRunner&) = delete;
  PluginRunner& operator=(const PluginRunner&) = delete;
  std::string error() const { return p_->last_error(ctx_); }
  double seconds = 0;

  ab_status scores(ab_kv_score_args a, const ScoreCase& c, std::vector<float>& out) {
    clear();  // the previous call's buffers
    a.k = up(c.k); a.q = up(c.q);
    a.scores = poisoned(c.out_count() * 4);
    return finish(p_->kv->observation_scores(ctx_, &a, &seconds), a.scores, out, c.out_count());
  }
  ab_status statistics(ab_kv_stat_args a, const StatCase& c, const std::vector<float>& aux, std::vector<float>& out) {
    clear();  // the previous call's buffers
    a.k = up(c.k); a.q = up(c.q);
    a.aux = aux.empty() ? nullptr : up(aux);
    a.out = poisoned(c.out_count() * 4);
    return finish(p_->kv->statistics(ctx_, &a, &seconds), a.out, out, c.out_count());
  }
  ab_status topk(ab_kv_topk_args a, const TopkCase& c, std::vector<int32_t>& out) {
    clear();  // the previous call's buffers
    a.scores = up(c.s);
    const size_t n = size_t(a.rows) * a.k;
    a.out = poisoned(n * 4);
    return finish(p_->kv->topk(ctx_, &a, &seconds), a.out, out, n);
  }
  ab_status dot(ab_kv_dot_args a, const std::vector<float>& x, const std::vector<float>& y, std::vector<float>& out) {
    clear();  // the previous call's buffers
    a.a = up(x); a.b = up(y);
    const size_t n = size_t(a.batch) * a.m * a.n;
    a.out = poisoned(n * 4);
    return finish(p_->kv->dot(ctx_, &a, &seconds), a.out, out, n);
  }
  ab_status compact(ab_kv_compact_args a, const CompactCase& c, std::vector<float>& k_out, std::vector<float>& v_out) {
    clear();  // the previous call's buffers
    a.k = up(c.k); a.v = up(c.v);
    a.k_out = poisoned(c.out_count() * 4);
    a.v_out = poisoned(c.out_count() * 4);
    const ab_status s = finish(p_->kv->compact(ctx_, &a, &seconds), a.k_out, k_out, c.out_count());
    return s != AB_OK ? s : finish(AB_OK, a.v_out, v_out, c.out_count());
  }
  /// quant_bytes, quantize, then quant_decode over the result.
  ab_status quant_decode(const QuantCase& c, std::vector<float>& out, size_t* bytes) {
    clear();  // the previous call's buffers
    ab_kv_quant_args qa = c.qa;
    ab_kv_quant_decode_args da = c.da;
    qa.k = up(c.k); qa.v = up(c.v);
    ab_status s = p_->kv->quant_bytes(ctx_, &qa, bytes);
    if (s != AB_OK) return s;
    qa.out = poisoned(*bytes);
    if ((s = p_->kv->quantize(ctx_, &qa, &seconds)) != AB_OK) return s;
    da.cache = qa.out;
    da.q = up(c.q);
    da.o = poisoned(c.out_count() * 4);
    return finish(p_->kv->quant_decode(ctx_, &da, &seconds), da.o, out, c.out_count());
  }

 private:
  template <class T> ab_buffer up(const std::vector<T>& v) {
    ab_buffer b = nullptr;
    if (p_->alloc(ctx_, std::max<size_t>(1, v.size() * sizeof(T)), &b) != AB_OK) return nullptr;
    bufs_.push_back(b);
    if (!v.empty()) (void)p_->upload(ctx_, b, v.data(), v.size() * sizeof(T));
    return b;
  }
  ab_buffer poisoned(size_t bytes) {
    ab_buffer b = nullptr;
    if (p_->alloc(ctx_, std::max<size_t>(1, bytes), &b) != AB_OK) return nullptr;
    bufs_.push_back(b);
    (void)p_->fill(ctx_, b, 0xFF, std::max<size_t>(1, bytes));
    return b;
  }
  template <class T> ab_status finish(ab_status s, ab_buffer src, std::vector<T>& out, size_t n) {
    out.assign(n, T{});
    if (s == AB_OK && n) s = p_->download(ctx_, out.data(), src, n * sizeof(T));
    return s;
  }
  void clear() {
    for (ab_buffer b : bufs_) p_->release(ctx_, b);
    bufs_.clear();
  }
  const ab_plugin* p_;
  void* ctx_;
  std::vector<ab_buffer> bufs_;
};

}  // namespace kvcase

#include "topk_hyper.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "topk_common.h"

AB_CPU_NS_BEGIN
namespace {

constexpr unsigned kSeed = 0x48595052;  // "HYPR"

struct HyperOptions {
  int bits, block, samples;
};

Check parse(const VariantOptions& options, HyperOptions& o) {
  int v[3];
  Check c = topk::parse_int_options("hyper", options,
                                    {{"bits", 4, 0, 16}, {"block", 64, 1, 1 << 20}, {"samples", 64, 0, 1 << 20}}, v);
  o = {v[0], v[1], v[2]};
  return c;
}

/// Angular hash: bit p set when x . plane_p > 0.
int bucket_of(const float* x, const std::vector<float>& planes, int bits, int d) {
  int code = 0;
  for (int p = 0; p < bits; ++p)
    if (topk::dot(x, planes.data() + static_cast<size_t>(p) * d, d) > 0.0f) code |= 1 << p;
  return code;
}

/// Indices 0..n-1 stably sorted by bucket.
std::vector<int> sort_by_bucket(const std::vector<int>& buckets) {
  std::vector<int> order(buckets.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return buckets[x] < buckets[y]; });
  return order;
}

}  // namespace

Check hyper_supports(const ab_attention_args& /*a*/, const VariantOptions& options) {
  HyperOptions o;
  if (Check c = parse(options, o); !c.ok()) return c;
  return {};
}

void hyper_run(const ab_attention_args& a, const VariantOptions& options) {
  HyperOptions o;
  parse(options, o);
  if (a.batch <= 0 || a.len_q <= 0) return;
  const int d = a.head_dim;
  const topk::KvF32 kv(a);
  const LogitsHook logits{a.scale, a.softcap};
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  const bool masked = a.causal || a.window_left >= 0 || a.window_right >= 0;
  std::vector<float> planes(static_cast<size_t>(o.bits) * d);
  std::mt19937 rng(kSeed);
  std::normal_distribution<float> normal;
  for (float& x : planes) x = normal(rng);

  tbb::parallel_for(0, a.batch * a.heads_q, [&](int bh) {
    const int b = bh / a.heads_q, h = bh % a.heads_q, hk = kv_head_of(h, a.heads_q, a.heads_kv);
    const int lq = len_q_of(a, b), lk = len_k_of(a, b);
    if (lq <= 0) return;
    std::vector<float> q(static_cast<size_t>(lq) * d);
    std::vector<int> qb(lq), kb(lk);
    for (int i = 0; i < lq; ++i) {
      load_row_f32(a.dtype, a.q, row_offset(b, h, i, a.heads_q, a.len_q, d), q.data() + static_cast<size_t>(i) * d, d);
      qb[i] = bucket_of(q.data() + static_cast<size_t>(i) * d, planes, o.bits, d);
    }
    for (int t = 0; t < lk; ++t) kb[t] = bucket_of(kv.k(b, hk, t), planes, o.bits, d);
    const std::vector<int> q_order = sort_by_bucket(qb), k_order = sort_by_bucket(kb);
    std::vector<int> k_block(lk);  // sorted-order block of every key
    const int nb = (lq + o.block - 1) / o.block;
    for (int j = 0; j < nb; ++j)
      for (long long p = j * static_cast<long long>(lk) / nb; p < (j + 1) * static_cast<long long>(lk) / nb; ++p)
        k_block[k_order[p]] = j;
    if (masked) {  // per query: visible block keys plus samples from the visible range
      std::vector<double> draws(std::min(o.samples, lk));
      std::mt19937 srng(kSeed + 7919u * static_cast<unsigned>(bh));
      std::uniform_real_distribution<double> unit(0.0, 1.0);
      for (double& u : draws) u = unit(srng);
      tbb::parallel_for(0, nb, [&](int j) {
        const int k0 = static_cast<int>(static_cast<long long>(j) * lk / nb);
        const int k1 = static_cast<int>(static_cast<long long>(j + 1) * lk / nb);
        std::vector<int> keys;
        std::vector<float> weights, out(d), scratch;
        for (int p = j * o.block; p < std::min(lq, (j + 1) * o.block); ++p) {
          const int i = q_order[p];
          const KeyRange r = mask.keys_for(i, lq, lk);
          const int n = r.empty() ? 0 : r.hi - r.lo;
          keys.clear();
          weights.clear();
          for (int s = k0; s < k1; ++s)
            if (k_order[s] >= r.lo && k_order[s] < r.hi) keys.push_back(k_order[s]), weights.push_back(1.0f);
          if (o.samples >= lk) {
            for (int t = r.lo; t < r.hi; ++t)
              if (k_block[t] != j) keys.push_back(t), weights.push_back(1.0f);
          } else if (n > 0) {
            const float w = static_cast<float>(n) / static_cast<float>(o.samples);
            for (double u : draws) {
              const int t = r.lo + std::min(n - 1, static_cast<int>(u * n));
              if (k_block[t] != j) keys.push_back(t), weights.push_back(w);
            }
          }
          topk::attend_weighted(q.data() + static_cast<size_t>(i) * d, kv, b, hk, d, logits, keys, weights, scratch,
                                out.data());
          store_row(a.dtype, a.o, row_offset(b, h, i, a.heads_q, a.len_q, d), out.data(), d);
        }
      });
      return;
    }
    // Off-block columns: every key when samples >= lk, else uniform draws of weight lk/samples.
    std::vector<int> sampled;
    float sample_weight = 1.0f;
    if (o.samples >= lk) {
      sampled.resize(lk);
      std::iota(sampled.begin(), sampled.end(), 0);
    } else if (o.samples > 0) {
      std::mt19937 srng(kSeed + 7919u * static_cast<unsigned>(bh));
      std::uniform_int_distribution<int> pick(0, lk - 1);
      for (int s = 0; s < o.samples; ++s) sampled.push_back(pick(srng));
      sample_weight = static_cast<float>(lk) / static_cast<float>(o.samples);
    }
    tbb::parallel_for(0, nb, [&](int j) {
      const int k0 = static_cast<int>(static_cast<long long>(j) * lk / nb);
      const int k1 = static_cast<int>(static_cast<long long>(j + 1) * lk / nb);
      std::vector<int> keys(k_order.begin() + k0, k_order.begin() + k1);
      std::vector<float> weights(keys.size(), 1.0f), out(d), scratch;
      for (int t : sampled)
        if (k_block[t] != j) keys.push_back(t), weights.push_back(sample_weight);
      for (int p = j * o.block; p < std::min(lq, (j + 1) * o.block); ++p) {
        const int i = q_order[p];
        topk::attend_weighted(q.data() + static_cast<size_t>(i) * d, kv, b, hk, d, logits, keys, weights, scratch,
                              out.data());
        store_row(a.dtype, a.o, row_offset(b, h, i, a.heads_q, a.len_q, d), out.data(), d);
      }
    });
  });
}

AB_CPU_NS_END

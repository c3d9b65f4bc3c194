#include "topk_block.h"

#include <tbb/parallel_for.h>

#include <algorithm>

#include "topk_common.h"

namespace attnbench::cpu {
namespace {

struct BlockTopkOptions {
  int block, k, per_query;
};

Check parse(const VariantOptions& options, BlockTopkOptions& o) {
  int v[3];
  Check c = topk::parse_int_options("block_topk", options,
                                    {{"block", 64, 1, 1 << 20}, {"k", 8, 0, 1 << 20}, {"per_query", 0, 0, 1}}, v);
  o = {v[0], v[1], v[2]};
  return c;
}

/// Mean key of every key block: [batch, heads_kv, blocks, d] (blocks of len_k; the last
/// block may be short and averages what it has).
std::vector<float> block_means(const ab_attention_args& a, const topk::KvF32& kv, int block, int blocks) {
  const int d = a.head_dim;
  std::vector<float> means(static_cast<size_t>(a.batch) * a.heads_kv * blocks * d, 0.0f);
  tbb::parallel_for(0, a.batch * a.heads_kv, [&](int bh) {
    const int b = bh / a.heads_kv, h = bh % a.heads_kv, lk = len_k_of(a, b);
    for (int j = 0; j < blocks; ++j) {
      float* m = means.data() + (static_cast<size_t>(bh) * blocks + j) * d;
      const int t0 = j * block, t1 = std::min(lk, t0 + block);
      for (int t = t0; t < t1; ++t) {
        const float* kr = kv.k(b, h, t);
        for (int c = 0; c < d; ++c) m[c] += kr[c];
      }
      if (t1 > t0)
        for (int c = 0; c < d; ++c) m[c] /= static_cast<float>(t1 - t0);
    }
  });
  return means;
}

}  // namespace

std::vector<int> block_topk_route(const float* q, const float* means, int d, const std::vector<int>& candidates,
                                  int k, int local) {
  std::vector<float> scores(candidates.size());
  for (size_t j = 0; j < candidates.size(); ++j)
    scores[j] = topk::dot(q, means + static_cast<size_t>(candidates[j]) * d, d);
  std::vector<int> kept;
  for (int j : topk::select_top_k(scores.data(), static_cast<int>(scores.size()), k)) kept.push_back(candidates[j]);
  if (local >= 0 && std::find(kept.begin(), kept.end(), local) == kept.end()) kept.push_back(local);
  std::sort(kept.begin(), kept.end());
  return kept;
}

Check block_topk_supports(const ab_attention_args&, const VariantOptions& options) {
  BlockTopkOptions o;
  return parse(options, o);
}

void block_topk_run(const ab_attention_args& a, const VariantOptions& options) {
  BlockTopkOptions o;
  parse(options, o);
  if (a.batch <= 0 || a.len_q <= 0) return;
  const int d = a.head_dim, B = o.block;
  const int blocks = std::max(1, (a.len_k + B - 1) / B);
  const topk::KvF32 kv(a);
  const std::vector<float> means = block_means(a, kv, B, blocks);
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  const LogitsHook logits{a.scale, a.softcap};

  tbb::parallel_for(0, a.batch * a.heads_q, [&](int bh) {
    const int b = bh / a.heads_q, h = bh % a.heads_q, hk = kv_head_of(h, a.heads_q, a.heads_kv);
    const int lq = len_q_of(a, b), lk = len_k_of(a, b), off = lk - lq;
    if (lq <= 0) return;
    const int nkb = std::max(1, (lk + B - 1) / B);
    const float* kmeans = means.data() + (static_cast<size_t>(b) * a.heads_kv + hk) * blocks * d;
    const int g0 = topk::floor_div(off, B), g1 = topk::floor_div(static_cast<long long>(lq) - 1 + off, B);
    tbb::parallel_for(g0, g1 + 1, [&](int g) {
      const int r0 = std::max(0, g * B - off), r1 = std::min(lq, (g + 1) * B - off);
      const int local = std::clamp(g, 0, nkb - 1);
      std::vector<float> q(static_cast<size_t>(r1 - r0) * d), qm(d, 0.0f), out(d), scratch;
      for (int i = r0; i < r1; ++i) {
        float* qi = q.data() + static_cast<size_t>(i - r0) * d;
        load_row_f32(a.dtype, a.q, row_offset(b, h, i, a.heads_q, a.len_q, d), qi, d);
        for (int c = 0; c < d; ++c) qm[c] += qi[c] / static_cast<float>(r1 - r0);
      }
      KeyRange all{lk, 0};  // union of the rows' visible ranges
      for (int i = r0; i < r1; ++i) {
        const KeyRange r = mask.keys_for(i, lq, lk);
        if (!r.empty()) all = {std::min(all.lo, r.lo), std::max(all.hi, r.hi)};
      }
      std::vector<int> kept;
      if (!o.per_query) kept = block_topk_route(qm.data(), kmeans, d, topk::candidates_of(all, B, local), o.k, local);
      for (int i = r0; i < r1; ++i) {
        const float* qi = q.data() + static_cast<size_t>(i - r0) * d;
        const KeyRange r = mask.keys_for(i, lq, lk);
        if (o.per_query) kept = block_topk_route(qi, kmeans, d, topk::candidates_of(r, B, local), o.k, local);
        topk::attend_ranges(qi, kv, b, hk, d, logits, topk::kept_ranges(kept, B, r), scratch, out.data());
        store_row(a.dtype, a.o, row_offset(b, h, i, a.heads_q, a.len_q, d), out.data(), d);
      }
    });
  });
}

}  // namespace attnbench::cpu

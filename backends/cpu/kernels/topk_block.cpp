#include "topk_block.h"

#include <tbb/parallel_for.h>

#include <algorithm>

#include "topk_common.h"

AB_CPU_NS_BEGIN
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
  auto kmeans = [&](const topk::QueryBlock& qb) {
    return means.data() + (static_cast<size_t>(qb.b) * a.heads_kv + qb.hk) * blocks * d;
  };
  // Whole-block gating (the catalogue's definition) or MoBA's per-query gating.
  const topk::BlockRouter per_block = [&](const topk::QueryBlock& qb) {
    return block_topk_route(qb.mean.data(), kmeans(qb), d, topk::candidates_of(qb.visible, B, qb.local), o.k,
                            qb.local);
  };
  const topk::RowRouter per_query = [&](const topk::QueryBlock& qb, int i, KeyRange r) {
    return block_topk_route(qb.row(i), kmeans(qb), d, topk::candidates_of(r, B, qb.local), o.k, qb.local);
  };
  topk::attend_routed_blocks(a, B, per_block, o.per_query ? per_query : topk::RowRouter{});
}

AB_CPU_NS_END

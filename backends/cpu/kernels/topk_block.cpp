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

}  // namespace

std::vector<float> block_representatives(const ab_attention_args& a, const topk::KvF32& kv, int block, int blocks,
                                         const BlockReducer& reduce) {
  const int d = a.head_dim;
  std::vector<float> reps(static_cast<size_t>(a.batch) * a.heads_kv * blocks * d, 0.0f);
  tbb::parallel_for(0, a.batch * a.heads_kv, [&](int bh) {
    const int b = bh / a.heads_kv, h = bh % a.heads_kv, lk = len_k_of(a, b);
    for (int j = 0; j < blocks; ++j) {
      const int t0 = j * block, n = std::min(lk, t0 + block) - t0;
      // A KV head's key rows are consecutive, so a block is one [n, d] slab.
      if (n > 0) reduce(kv.k(b, h, t0), n, d, reps.data() + (static_cast<size_t>(bh) * blocks + j) * d);
    }
  });
  return reps;
}

void block_topk_attend(const ab_attention_args& a, int block, int k, bool per_query, const std::vector<float>& reps) {
  const int d = a.head_dim, B = block;
  const int blocks = std::max(1, (a.len_k + B - 1) / B);
  auto kreps = [&](const topk::QueryBlock& qb) {
    return reps.data() + (static_cast<size_t>(qb.b) * a.heads_kv + qb.hk) * blocks * d;
  };
  // Whole-block gating (the catalogue's definition) or MoBA's per-query gating.
  const topk::BlockRouter per_block = [&](const topk::QueryBlock& qb) {
    return block_topk_route(qb.mean.data(), kreps(qb), d, topk::candidates_of(qb.visible, B, qb.local), k, qb.local);
  };
  const topk::RowRouter per_row = [&](const topk::QueryBlock& qb, int i, KeyRange r) {
    return block_topk_route(qb.row(i), kreps(qb), d, topk::candidates_of(r, B, qb.local), k, qb.local);
  };
  topk::attend_routed_blocks(a, B, per_block, per_query ? per_row : topk::RowRouter{});
}

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
  const int blocks = std::max(1, (a.len_k + o.block - 1) / o.block);
  const topk::KvF32 kv(a);
  // MoBA's representative: the mean key of the block (a short last block averages what it has).
  const std::vector<float> means = block_representatives(a, kv, o.block, blocks, [](const float* k, int n, int d, float* m) {
    for (int t = 0; t < n; ++t)
      for (int c = 0; c < d; ++c) m[c] += k[static_cast<size_t>(t) * d + c];
    for (int c = 0; c < d; ++c) m[c] /= static_cast<float>(n);
  });
  block_topk_attend(a, o.block, o.k, o.per_query != 0, means);
}

AB_CPU_NS_END

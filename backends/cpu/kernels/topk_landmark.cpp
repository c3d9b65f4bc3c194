#include "topk_landmark.h"

#include <algorithm>

#include "topk_block.h"
#include "topk_common.h"

AB_CPU_NS_BEGIN
namespace {

struct LandmarkOptions {
  int block, k, per_query;
};

Check parse(const VariantOptions& options, LandmarkOptions& o) {
  int v[3];
  Check c = topk::parse_int_options("landmark", options,
                                    {{"block", 64, 1, 1 << 20}, {"k", 8, 0, 1 << 20}, {"per_query", 0, 0, 1}}, v);
  o = {v[0], v[1], v[2]};
  return c;
}

}  // namespace

int landmark_of_block(const float* keys, int n, int d) {
  int best = -1;
  float best_norm = -1.0f;
  for (int t = 0; t < n; ++t) {
    const float* k = keys + static_cast<size_t>(t) * d;
    const float norm = topk::dot(k, k, d);
    if (norm > best_norm) best = t, best_norm = norm;
  }
  return best;
}

Check landmark_supports(const ab_attention_args&, const VariantOptions& options) {
  LandmarkOptions o;
  return parse(options, o);
}

void landmark_run(const ab_attention_args& a, const VariantOptions& options) {
  LandmarkOptions o;
  parse(options, o);
  if (a.batch <= 0 || a.len_q <= 0) return;
  const int blocks = std::max(1, (a.len_k + o.block - 1) / o.block);
  const topk::KvF32 kv(a);
  const std::vector<float> marks = block_representatives(a, kv, o.block, blocks, [](const float* k, int n, int d, float* m) {
    const float* best = k + static_cast<size_t>(landmark_of_block(k, n, d)) * d;
    std::copy(best, best + d, m);
  });
  block_topk_attend(a, o.block, o.k, o.per_query != 0, marks);
}

AB_CPU_NS_END

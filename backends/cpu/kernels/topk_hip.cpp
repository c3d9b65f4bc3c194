#include "topk_hip.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>

#include "topk_common.h"

AB_CPU_NS_BEGIN
namespace {

struct HipOptions {
  int block, k;
};

Check parse(const VariantOptions& options, HipOptions& o) {
  int v[2];
  Check c = topk::parse_int_options("hip", options, {{"block", 64, 1, 1 << 20}, {"k", 8, 0, 1 << 20}}, v);
  o = {v[0], v[1]};
  return c;
}

/// A group: candidate indices [i0, i1).
struct Group {
  int i0, i1;
};

}  // namespace

std::vector<int> hip_route(const std::vector<int>& candidates, int block, int span_lo, int span_hi, int k,
                           const std::function<float(int)>& score, int local) {
  const int n = static_cast<int>(candidates.size());
  std::vector<int> kept;
  if (n <= k) {
    kept = candidates;
  } else if (k > 0) {
    std::vector<Group> groups;
    for (int g = 0; g < k; ++g)
      groups.push_back({static_cast<int>(static_cast<long long>(g) * n / k),
                        static_cast<int>(static_cast<long long>(g + 1) * n / k)});
    std::vector<Group> halves;
    std::vector<float> scores;
    for (;;) {
      halves.clear();
      bool split = false;
      for (const Group& g : groups) {
        if (g.i1 - g.i0 > 1) {
          const int m = g.i0 + (g.i1 - g.i0) / 2;
          halves.push_back({g.i0, m});
          halves.push_back({m, g.i1});
          split = true;
        } else {
          halves.push_back(g);
        }
      }
      if (!split) break;
      scores.resize(halves.size());
      for (size_t j = 0; j < halves.size(); ++j) {
        // Representative key: the centre of the half's token span, clipped to the visible span.
        const int lo = std::max(span_lo, candidates[halves[j].i0] * block);
        const int hi = std::min(span_hi, (candidates[halves[j].i1 - 1] + 1) * block);
        scores[j] = hi > lo ? score(lo + (hi - lo) / 2) : -INFINITY;
      }
      groups.clear();
      for (int j : topk::select_top_k(scores.data(), static_cast<int>(scores.size()), k)) groups.push_back(halves[j]);
    }
    for (const Group& g : groups)
      for (int i = g.i0; i < g.i1; ++i) kept.push_back(candidates[i]);
  }
  if (local >= 0 && std::find(kept.begin(), kept.end(), local) == kept.end()) kept.push_back(local);
  std::sort(kept.begin(), kept.end());
  kept.erase(std::unique(kept.begin(), kept.end()), kept.end());
  return kept;
}

Check hip_supports(const ab_attention_args&, const VariantOptions& options) {
  HipOptions o;
  return parse(options, o);
}

void hip_run(const ab_attention_args& a, const VariantOptions& options) {
  HipOptions o;
  parse(options, o);
  if (a.batch <= 0 || a.len_q <= 0) return;
  const int d = a.head_dim, B = o.block;
  const topk::KvF32 kv(a);
  topk::attend_routed_blocks(a, B, [&](const topk::QueryBlock& qb) {
    return hip_route(topk::candidates_of(qb.visible, B, qb.local), B, qb.visible.lo, qb.visible.hi, o.k,
                     [&](int t) { return topk::dot(qb.mean.data(), kv.k(qb.b, qb.hk, t), d); }, qb.local);
  });
}

AB_CPU_NS_END

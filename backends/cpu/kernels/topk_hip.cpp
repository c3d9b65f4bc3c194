#include "topk_hip.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>

#include "topk_common.h"

namespace attnbench::cpu {
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
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  const LogitsHook logits{a.scale, a.softcap};

  tbb::parallel_for(0, a.batch * a.heads_q, [&](int bh) {
    const int b = bh / a.heads_q, h = bh % a.heads_q, hk = kv_head_of(h, a.heads_q, a.heads_kv);
    const int lq = len_q_of(a, b), lk = len_k_of(a, b), off = lk - lq;
    if (lq <= 0) return;
    const int nkb = std::max(1, (lk + B - 1) / B);
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
      const std::vector<int> kept =
          hip_route(topk::candidates_of(all, B, local), B, all.lo, all.hi, o.k,
                    [&](int t) { return topk::dot(qm.data(), kv.k(b, hk, t), d); }, local);
      for (int i = r0; i < r1; ++i) {
        const float* qi = q.data() + static_cast<size_t>(i - r0) * d;
        topk::attend_ranges(qi, kv, b, hk, d, logits, topk::kept_ranges(kept, B, mask.keys_for(i, lq, lk)), scratch,
                            out.data());
        store_row(a.dtype, a.o, row_offset(b, h, i, a.heads_q, a.len_q, d), out.data(), d);
      }
    });
  });
}

}  // namespace attnbench::cpu

#include "topk_decode.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>

#include "topk_common.h"

namespace attnbench::cpu {
namespace {

constexpr int kMaxQueries = 16;

Check parse(const VariantOptions& options, int& k, int& vote) {
  int v[2];
  Check c = topk::parse_int_options("topk_decode", options, {{"k", 256, 1, 1 << 30}, {"vote", 0, 0, 1}}, v);
  k = v[0];
  vote = v[1];
  return c;
}

}  // namespace

Check topk_decode_supports(const ab_attention_args& a, const VariantOptions& options) {
  int k, vote;
  if (Check c = parse(options, k, vote); !c.ok()) return c;
  if (a.len_q > kMaxQueries)
    return {AB_UNSUPPORTED, "topk_decode handles len_q <= " + std::to_string(kMaxQueries) + " (got " +
                                std::to_string(a.len_q) + "); it is a decode-time selection"};
  return {};
}

void topk_decode_run(const ab_attention_args& a, const VariantOptions& options) {
  int k, vote;
  parse(options, k, vote);
  if (a.batch <= 0 || a.len_q <= 0) return;
  const int d = a.head_dim, group = a.heads_q / a.heads_kv;
  const topk::KvF32 kv(a);
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  const LogitsHook logits{a.scale, a.softcap};

  // One task per (batch, KV head, query row): the heads of its group share the keys.
  tbb::parallel_for(0, a.batch * a.heads_kv * a.len_q, [&](int task) {
    const int i = task % a.len_q, hk = (task / a.len_q) % a.heads_kv, b = task / (a.len_q * a.heads_kv);
    const int lq = len_q_of(a, b), lk = len_k_of(a, b);
    if (i >= lq) return;
    const KeyRange r = mask.keys_for(i, lq, lk);
    const int n = r.empty() ? 0 : r.hi - r.lo;
    std::vector<float> q(static_cast<size_t>(group) * d), scores(static_cast<size_t>(group) * n), votes;
    std::vector<float> out(d), scratch;
    for (int g = 0; g < group; ++g) {
      const int h = hk * group + g;
      load_row_f32(a.dtype, a.q, row_offset(b, h, i, a.heads_q, a.len_q, d), q.data() + g * d, d);
      for (int j = 0; j < n; ++j) scores[static_cast<size_t>(g) * n + j] = topk::dot(q.data() + g * d, kv.k(b, hk, r.lo + j), d);
    }
    std::vector<int> keys;
    if (vote) {
      votes.assign(n, 0.0f);
      for (int g = 0; g < group; ++g) {  // each head's softmax probabilities, summed
        const float* s = scores.data() + static_cast<size_t>(g) * n;
        float m = -INFINITY;
        for (int j = 0; j < n; ++j) m = std::max(m, s[j] * a.scale);
        double sum = 0;
        for (int j = 0; j < n; ++j) sum += std::exp(s[j] * a.scale - m);
        for (int j = 0; j < n; ++j) votes[j] += static_cast<float>(std::exp(s[j] * a.scale - m) / sum);
      }
      keys = topk::select_top_k(votes.data(), n, k);
      for (int& t : keys) t += r.lo;
    }
    for (int g = 0; g < group; ++g) {
      const int h = hk * group + g;
      if (!vote) {
        keys = topk::select_top_k(scores.data() + static_cast<size_t>(g) * n, n, k);
        for (int& t : keys) t += r.lo;
      }
      topk::attend_indices(q.data() + g * d, kv, b, hk, d, logits, keys, scratch, out.data());
      store_row(a.dtype, a.o, row_offset(b, h, i, a.heads_q, a.len_q, d), out.data(), d);
    }
  });
}

}  // namespace attnbench::cpu

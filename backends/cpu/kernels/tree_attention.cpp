#include "tree_attention.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "attnbench/attention_hooks.h"
#include "isa_kernels.h"
#include "tensor_access.h"
#include "topk_common.h"

AB_CPU_NS_BEGIN
namespace {

constexpr int kMaxBranch = 64;

struct Options {
  int branch = 2;
};

Check refuse(const std::string& why) { return {AB_UNSUPPORTED, "tree: " + why}; }

Check parse(const VariantOptions& options, Options& o) {
  int v[1];
  if (Check c = topk::parse_int_options("tree", options, {{"branch", 2, 1, kMaxBranch}}, v); !c.ok()) return c;
  o.branch = v[0];
  return {};
}

struct TreeScratch {
  ScratchF32 k, v, q, s, o, prefix_o, prefix_lse;
  std::vector<int32_t> prefix_len;
};
thread_local TreeScratch tls_tree;

/// The tree part of (b, hk), merged: every row of the GQA group attends its ancestors and
/// itself among the tree keys [len_k - len_q, len_k) (at most depth + 1 keys, so plain
/// loops do; the tree K/V rows are widened to fp32 once for the whole group), and that
/// partial is merged by log-sum-exp with the row's prefix result (prefix_o, normalised,
/// in a.dtype, and its natural log-sum-exp prefix_lse; -inf without a prefix).
void attend_tree_merge(const ab_attention_args& a, const TreeHook& tree, int b, int hk, const void* prefix_o,
                       const float* prefix_lse) {
  const int d = a.head_dim, lq = a.len_q, lk = a.len_k, prefix = lk - lq, group = a.heads_q / a.heads_kv;
  TreeScratch& s = tls_tree;
  float* kt = s.k.get(static_cast<size_t>(lq) * d);
  float* vt = s.v.get(static_cast<size_t>(lq) * d);
  for (int n = 0; n < lq; ++n) {
    const size_t off = row_offset(b, hk, prefix + n, a.heads_kv, lk, d);
    load_row_f32(a.dtype, a.k, off, kt + static_cast<size_t>(n) * d, d);
    load_row_f32(a.dtype, a.v, off, vt + static_cast<size_t>(n) * d, d);
  }
  float* q = s.q.get(d);
  float* sc = s.s.get(lq);
  float* o = s.o.get(static_cast<size_t>(2) * d);
  float* pre = o + d;
  // Base-2 logits: scores times scale * log2(e), cap softcap * log2(e), as flash's.
  const float qscale = a.scale * kLog2e, softcap2 = a.softcap > 0.0f ? a.softcap * kLog2e : 0.0f;
  for (int r = 0; r < group * lq; ++r) {
    const int h = hk * group + r / lq, i = r % lq;
    const size_t row = row_offset(b, h, i, a.heads_q, lq, d);
    load_row_f32(a.dtype, a.q, row, q, d);
    for (int t = 0; t < d; ++t) q[t] *= qscale;
    int count = 0;
    float mx = -INFINITY;
    for (int n = i; n >= 0; n = tree.parent(n)) {
      float x = topk::dot(q, kt + static_cast<size_t>(n) * d, d);
      if (softcap2 > 0.0f) x = softcap2 * std::tanh(x / softcap2);
      sc[count++] = x;
      mx = std::max(mx, x);
    }
    std::fill(o, o + d, 0.0f);
    float l = 0.0f;
    count = 0;
    for (int n = i; n >= 0; n = tree.parent(n)) {
      const float p = std::exp2(sc[count++] - mx);
      l += p;
      const float* v = vt + static_cast<size_t>(n) * d;
      for (int t = 0; t < d; ++t) o[t] += p * v[t];
    }
    // The prefix result stands for mass 2^L1 with L1 its base-2 log-sum-exp.
    const float l1 = prefix_lse[(static_cast<size_t>(b) * a.heads_q + h) * lq + i] * kLog2e;
    const float top = std::max(l1, mx);
    const float w1 = std::exp2(l1 - top), w2 = std::exp2(mx - top);  // w1 = 0 without a prefix
    if (w1 > 0.0f) load_row_f32(a.dtype, prefix_o, row, pre, d);
    const float inv = 1.0f / (w1 + w2 * l);
    for (int t = 0; t < d; ++t) o[t] = ((w1 > 0.0f ? w1 * pre[t] : 0.0f) + w2 * o[t]) * inv;
    store_row(a.dtype, a.o, row, o, d);
  }
}

/// Prefix on flash: every row sees every prefix key, so the prefix part is non-causal
/// flash over keys [0, len_k - len_q) of each sequence (per-sequence key lengths), with
/// its log-sum-exp; then the tree part per (b, hk), merged.
void run_all(const ab_attention_args& a, const Options& opt) {
  const int prefix = a.len_k - a.len_q;
  const size_t rows = static_cast<size_t>(a.batch) * a.heads_q * a.len_q;
  TreeScratch& s = tls_tree;
  void* prefix_o = s.prefix_o.get((rows * a.head_dim * dtype_size(a.dtype) + 3) / 4);
  float* prefix_lse = s.prefix_lse.get(rows);
  if (prefix > 0) {
    s.prefix_len.assign(static_cast<size_t>(a.batch), prefix);
    ab_attention_args p = a;
    p.causal = 0;
    p.seq_len_q = nullptr;
    p.seq_len_k = s.prefix_len.data();
    p.o = reinterpret_cast<ab_buffer>(prefix_o);
    p.lse = reinterpret_cast<ab_buffer>(prefix_lse);
    flash_attention(p);
  } else {
    std::fill(prefix_lse, prefix_lse + rows, -INFINITY);
  }
  const TreeHook tree{opt.branch};
  tbb::parallel_for(0, a.batch * a.heads_kv, [&](int j) {
    attend_tree_merge(a, tree, j / a.heads_kv, j % a.heads_kv, prefix_o, prefix_lse);
  });
}

}  // namespace

Check tree_supports(const ab_attention_args& a, const VariantOptions& options) {
  Options o;
  if (Check c = parse(options, o); !c.ok()) return c;
  if (a.len_q > a.len_k)
    return refuse("len_q (" + std::to_string(a.len_q) + " tree nodes) is larger than len_k (" +
                  std::to_string(a.len_k) + "): the tree nodes are the last len_q keys");
  if (a.seq_len_q || a.seq_len_k)
    return refuse("per-sequence lengths (varlen) are not supported: the tree needs one len_q and len_k");
  if (a.window_left >= 0 || a.window_right >= 0)
    return refuse("sliding windows are not supported (the tree mask decides which keys are visible)");
  return {};
}

void tree_run(const ab_attention_args& a, const VariantOptions& options) {
  Options o;
  parse(options, o);
  if (a.batch <= 0 || a.len_q <= 0) return;
  run_all(a, o);
}

AB_CPU_NS_END

#include "tree_attention.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "attnbench/attention_hooks.h"
#include "chunk_partials.h"
#include "tensor_access.h"
#include "topk_common.h"

AB_CPU_NS_BEGIN
namespace {

constexpr int kMaxBranch = 64;

struct Options {
  int branch = 2, chunk = 512;
};

Check refuse(const std::string& why) { return {AB_UNSUPPORTED, "tree: " + why}; }

Check parse(const VariantOptions& options, Options& o) {
  int v[2];
  if (Check c = topk::parse_int_options("tree", options, {{"branch", 2, 1, kMaxBranch}, {"chunk", 512, 1, 1 << 24}}, v);
      !c.ok())
    return c;
  o.branch = v[0];
  o.chunk = round_chunk(v[1]);
  return {};
}

struct TreeScratch {
  ScratchF32 k, v, q, s;
};
thread_local TreeScratch tls_tree;

/// Phase 2 of (b, hk): every row of the GQA group attends its ancestors and itself among
/// the tree keys [len_k - len_q, len_k); the partial goes to slot `slot`. A row sees at
/// most depth + 1 keys, so plain loops do; the tree K/V rows are widened to fp32 once
/// for the whole group.
void attend_tree(const ab_attention_args& a, const TreeHook& tree, int b, int hk, int slot, const Partials& P) {
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
  // Same log2 domain as attend_chunk: scores times scale * log2(e), cap softcap * log2(e).
  const float qscale = a.scale * kLog2e, softcap2 = a.softcap > 0.0f ? a.softcap * kLog2e : 0.0f;
  for (int r = 0; r < group * lq; ++r) {
    const int h = hk * group + r / lq, i = r % lq;
    load_row_f32(a.dtype, a.q, row_offset(b, h, i, a.heads_q, lq, d), q, d);
    for (int t = 0; t < d; ++t) q[t] *= qscale;
    int count = 0;
    float mx = -INFINITY;
    for (int n = i; n >= 0; n = tree.parent(n)) {
      float x = topk::dot(q, kt + static_cast<size_t>(n) * d, d);
      if (softcap2 > 0.0f) x = softcap2 * std::tanh(x / softcap2);
      sc[count++] = x;
      mx = std::max(mx, x);
    }
    const size_t at = P.index(b, hk, slot, r);
    float* o = P.o + at * P.dpad;
    std::fill(o, o + P.dpad, 0.0f);
    float l = 0.0f;
    count = 0;
    for (int n = i; n >= 0; n = tree.parent(n)) {
      const float p = std::exp2(sc[count++] - mx);
      l += p;
      const float* v = vt + static_cast<size_t>(n) * d;
      for (int t = 0; t < d; ++t) o[t] += p * v[t];
    }
    P.m[at] = mx;
    P.l[at] = l;
  }
}

void run_all(const ab_attention_args& a, const Options& opt) {
  const int prefix = a.len_k - a.len_q, chunk = opt.chunk;
  const int n_pre = (prefix + chunk - 1) / chunk;
  const int bh = a.batch * a.heads_kv;
  // Items: (b, hk, prefix chunk) for phase 1, then (b, hk) for the tree part (slot n_pre).
  const size_t items1 = static_cast<size_t>(bh) * n_pre;
  const Partials P = alloc_partials(a, n_pre + 1);
  const MaskHook dense{0, -1, -1};  // every row sees every prefix key
  const TreeHook tree{opt.branch};
  tbb::parallel_for(tbb::blocked_range<size_t>(0, items1 + bh, 1), [&](const tbb::blocked_range<size_t>& rg) {
    for (size_t it = rg.begin(); it != rg.end(); ++it) {
      if (it < items1) {
        const int c = static_cast<int>(it % n_pre), j = static_cast<int>(it / n_pre);
        const int b = j / a.heads_kv, hk = j % a.heads_kv;
        const int c0 = c * chunk, c1 = std::min(prefix, c0 + chunk);
        attend_chunk(a, dense, b, hk, c0, c1, b, b + 1, c, P);
      } else {
        const int j = static_cast<int>(it - items1);
        attend_tree(a, tree, j / a.heads_kv, j % a.heads_kv, n_pre, P);
      }
    }
  });
  tbb::parallel_for(0, bh, [&](int j) { merge(a, j / a.heads_kv, j % a.heads_kv, P); });
}

}  // namespace

Check tree_supports(const ab_attention_args& a, const VariantOptions& options) {
  Options o;
  if (Check c = parse(options, o); !c.ok()) return c;
  if (a.len_q > kMaxChunkQueries)
    return refuse("handles len_q <= " + std::to_string(kMaxChunkQueries) + " tree nodes (got " +
                  std::to_string(a.len_q) + ")");
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

#include "sparse_star.h"

#include <tbb/parallel_for.h>

#include <algorithm>

#include "sparse_rows.h"
#include "tensor_access.h"
#include "topk_common.h"

AB_CPU_NS_BEGIN
namespace {

struct StarOptions {
  int block, query;
};

Check parse(const VariantOptions& options, StarOptions& o) {
  int v[2];
  Check c = topk::parse_int_options("star", options, {{"block", 512, 1, 1 << 24}, {"query", 64, 0, 1 << 24}}, v);
  o = {v[0], v[1]};
  return c;
}

}  // namespace

std::vector<KeyRange> star_ranges(int pos, int len_k, int block, int query, KeyRange visible) {
  std::vector<KeyRange> out;
  const auto add = [&](int lo, int hi) {
    lo = std::max(lo, visible.lo), hi = std::min(hi, visible.hi);
    if (hi <= lo) return;
    if (!out.empty() && out.back().hi >= lo) out.back().hi = std::max(out.back().hi, hi);
    else out.push_back({lo, hi});
  };
  if (pos >= len_k - query) {  // phase 2: a question token sees every cached key
    add(0, len_k);
    return out;
  }
  const int c0 = pos / block * block;  // own context block
  if (c0 > 0) add(0, block);           // the anchor block, ahead of it
  add(c0, pos + 1);
  return out;
}

Check star_supports(const ab_attention_args& a, const VariantOptions& options) {
  StarOptions o;
  Check c = parse(options, o);
  if (c.ok() && !a.causal) return {AB_UNSUPPORTED, "star: causal prefill only (context blocks attend backwards)"};
  return c;
}

void star_run(const ab_attention_args& a, const VariantOptions& options) {
  StarOptions o;
  parse(options, o);
  if (a.batch <= 0 || a.len_q <= 0) return;
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  const int chunks = (a.len_q + kSparseRows - 1) / kSparseRows;
  tbb::parallel_for(0, a.batch * a.heads_q * chunks, [&](int task) {
    const int bh = task / chunks, b = bh / a.heads_q, h = bh % a.heads_q;
    const int lq = len_q_of(a, b), lk = len_k_of(a, b), i0 = (task % chunks) * kSparseRows;
    if (i0 >= lq) return;
    const int rows = std::min(kSparseRows, lq - i0);
    SparseRows& s = sparse_rows_scratch();
    for (int r = 0; r < rows; ++r) {
      const int pos = i0 + r + lk - lq;
      s.ranges[r] = star_ranges(pos, lk, o.block, o.query, mask.keys_for(i0 + r, lq, lk));
    }
    attend_row_lists(a, b, h, i0, 1, rows, s);
  });
}

AB_CPU_NS_END

// Kernel of the static sparse patterns: per (batch, head, block of kSparseRows query
// rows) the rows' keys (select_block, packed; select_keys row by row where the rows'
// stepped runs differ), attended by the row-list kernel
// (sparse_rows.h: a tile loop over the lists' union on the flash microkernels).
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <stdexcept>

#include "sparse_rows.h"
#include "sparse_static_patterns.h"
#include "tensor_access.h"

AB_CPU_NS_BEGIN
namespace {

/// One block of query rows of (b, h): rows i0, i0 + step, ... (at most kSparseRows,
/// < len_q; step = dilation groups rows that share their keys), each over its pattern's keys.
void run_block(const StaticPattern& p, const ab_attention_args& a, int b, int h, int i0, int step, SparseRows& s) {
  const int lq = len_q_of(a, b), lk = len_k_of(a, b);
  const int rows = std::min(kSparseRows, (lq - i0 + step - 1) / step);
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  // Packed keys: a dilated or head-sharded row is a few ranges of positions, not one
  // range per key (the per-key bookkeeping cost as much as the attention itself).
  if (select_block(p, mask, h, a.heads_q, i0, step, rows, lq, lk, s.keys, s.ranges)) {
    attend_row_lists(a, b, h, i0, step, rows, s, {.key_of = s.keys.data()});
    return;
  }
  for (int r = 0; r < rows; ++r) {
    select_keys(p, mask, h, a.heads_q, i0 + r * step, lq, lk, s.keys);
    ranges_of_keys(s.keys, s.ranges[r]);
  }
  attend_row_lists(a, b, h, i0, step, rows, s);
}

/// The K and V rows of one key class (keys kc, kc + r, ...), widened to fp32 once and
/// read in place by every row block of the class.
struct ClassRows {
  ScratchF32 k, v;
};

/// Dilated neighborhood (stride 1, dilation r > 1): rows of one residue class mod r
/// attend keys of one class, so each (batch, KV head, class) packs its keys' rows once
/// and every row block of the group's heads reads them in place, where each block
/// gathered its own keys tile by tile (each key about (32 + window) / 32 times).
void dilated_run(const StaticPattern& p, const ab_attention_args& a) {
  const int r = p.dilation, group = a.heads_q / a.heads_kv, d = a.head_dim;
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  tbb::parallel_for(0, a.batch * a.heads_kv * r, [&](int task) {
    const int c = task % r, hk = (task / r) % a.heads_kv, b = task / (r * a.heads_kv);
    const int lq = len_q_of(a, b), lk = len_k_of(a, b);
    const int nrows = lq > c ? (lq - c + r - 1) / r : 0;
    const int nblocks = (nrows + kSparseRows - 1) / kSparseRows;
    if (nblocks == 0) return;
    // The rows' keys: their centres' class (a centre clamped at an edge may leave it:
    // such a block takes the general path below).
    const int kc = ((c + lk - lq) % r + r) % r;
    const int nk = lk > kc ? (lk - kc + r - 1) / r : 0;
    thread_local ClassRows pack;
    float* kp = pack.k.get(static_cast<size_t>(std::max(1, nk)) * d);
    float* vp = pack.v.get(static_cast<size_t>(std::max(1, nk)) * d);
    for (int u = 0; u < nk; ++u) {
      const size_t off = row_offset(b, hk, kc + u * r, a.heads_kv, a.len_k, d);
      load_row_f32(a.dtype, a.k, off, kp + static_cast<size_t>(u) * d, d);
      load_row_f32(a.dtype, a.v, off, vp + static_cast<size_t>(u) * d, d);
    }
    // Isolated: a thread waiting here must not start another class and overwrite `pack`.
    tbb::this_task_arena::isolate([&] {
      tbb::parallel_for(0, group * nblocks, [&](int w) {
        const int h = hk * group + w / nblocks, i0 = c + (w % nblocks) * kSparseRows * r;
        const int rows = std::min(kSparseRows, (lq - i0 + r - 1) / r);
        SparseRows& s = sparse_rows_scratch();
        const bool packed = select_block(p, mask, h, a.heads_q, i0, r, rows, lq, lk, s.keys, s.ranges);
        const std::vector<int>& keys = s.keys;
        const bool on_class = packed && !keys.empty() && (keys.front() - kc) % r == 0 &&
                              keys.back() - keys.front() == static_cast<int>(keys.size() - 1) * r;
        if (on_class) {
          const size_t base = static_cast<size_t>((keys.front() - kc) / r) * d;
          attend_row_lists(a, b, h, i0, r, rows, s, {.key_of = keys.data(), .k_rows = kp + base, .v_rows = vp + base});
        } else {
          run_block(p, a, b, h, i0, r, s);
        }
      });
    });
  });
}

}  // namespace

Check static_pattern_supports(const char* base, const ab_attention_args& a, const VariantOptions& options) {
  StaticPattern p;
  if (Check c = parse_static_pattern(base, options, p); !c.ok()) return c;
  if (p.kind == StaticPattern::Kind::kPower && !a.causal)
    return {AB_UNSUPPORTED, "power is a causal pattern (PowerAttention); add the 'causal' option"};
  return {};
}

void static_pattern_run(const char* base, const ab_attention_args& a, const VariantOptions& options) {
  StaticPattern p;
  if (Check c = parse_static_pattern(base, options, p); !c.ok()) throw std::invalid_argument(c.reason);
  if (p.kind == StaticPattern::Kind::kNeighborhood && p.stride == 1 && p.dilation > 1) {
    dilated_run(p, a);
    return;
  }
  // Dilated windows: rows of one residue class mod dilation share their keys, so a
  // block takes kSparseRows rows of one class out of a super-block of kSparseRows * dilation rows.
  const int step = p.kind == StaticPattern::Kind::kNeighborhood && p.stride == 1 ? p.dilation : 1;
  const int super = kSparseRows * step;
  int max_blocks = 0;
  for (int b = 0; b < a.batch; ++b) max_blocks = std::max(max_blocks, (len_q_of(a, b) + super - 1) / super * step);
  const long long total = static_cast<long long>(a.batch) * a.heads_q * max_blocks;
  tbb::parallel_for(tbb::blocked_range<long long>(0, total), [&](const tbb::blocked_range<long long>& range) {
    SparseRows& scratch = sparse_rows_scratch();  // one TLS lookup per range
    for (long long idx = range.begin(); idx < range.end(); ++idx) {
      const int blk = static_cast<int>(idx % max_blocks);
      const int h = static_cast<int>((idx / max_blocks) % a.heads_q);
      const int b = static_cast<int>(idx / (static_cast<long long>(max_blocks) * a.heads_q));
      const int i0 = blk / step * super + blk % step;
      if (i0 >= len_q_of(a, b)) continue;
      run_block(p, a, b, h, i0, step, scratch);
    }
  });
}

Check neighborhood_supports(const ab_attention_args& a, const VariantOptions& o) { return static_pattern_supports("neighborhood", a, o); }
void neighborhood_run(const ab_attention_args& a, const VariantOptions& o) { static_pattern_run("neighborhood", a, o); }
Check sliding_window_supports(const ab_attention_args& a, const VariantOptions& o) { return static_pattern_supports("sliding_window", a, o); }
void sliding_window_run(const ab_attention_args& a, const VariantOptions& o) { static_pattern_run("sliding_window", a, o); }
Check power_supports(const ab_attention_args& a, const VariantOptions& o) { return static_pattern_supports("power", a, o); }
void power_run(const ab_attention_args& a, const VariantOptions& o) { static_pattern_run("power", a, o); }
Check strided_heads_supports(const ab_attention_args& a, const VariantOptions& o) { return static_pattern_supports("strided_heads", a, o); }
void strided_heads_run(const ab_attention_args& a, const VariantOptions& o) { static_pattern_run("strided_heads", a, o); }

AB_CPU_NS_END

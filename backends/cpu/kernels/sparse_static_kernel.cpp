// Kernel of the static sparse patterns: per (batch, head, block of kRows query rows)
// the rows' key lists (select_keys) are merged into one sorted union, whose keys are
// gathered tile by tile (kTile keys, converted to fp32) and consumed by an online
// softmax per row, masked by each row's own list. Nothing of size L x L is built.
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <stdexcept>

#include "flash_microkernel.h"
#include "pair_count.h"
#include "sparse_static_patterns.h"
#include "tensor_access.h"

AB_CPU_NS_BEGIN
namespace {

constexpr int kRows = kQRows;  // query rows per block (the 32 lanes of the microkernels)
constexpr int kTile = 64;      // keys per gathered tile
constexpr float kLog2e = 1.4426950408889634f;

float tanh_f(float x) { return std::tanh(x); }

/// Per-thread buffers, reused across blocks and calls.
struct Scratch {
  std::vector<int> lists[kRows];
  std::vector<int> uni, tmp;
  std::vector<unsigned char> sel;
  ScratchF32 qt, k, v, st, ot;
};

/// This thread's scratch (out of line: a TLS access from a shared library is a call).
[[gnu::noinline]] Scratch& local_scratch() {
  thread_local Scratch s;
  return s;
}

/// One block of query rows of (b, h): rows i0, i0 + step, ... (at most kRows, < len_q;
/// step = dilation groups rows that share their keys): union of the rows' keys, then per
/// tile S^T = K Q^T (flash microkernel), each row's own keys kept, online softmax in
/// the log2 domain, O^T += V^T P^T.
void run_block(const StaticPattern& p, const ab_attention_args& a, int b, int h, int i0, int step, Scratch& s) {
  const int lq = len_q_of(a, b), lk = len_k_of(a, b), d = a.head_dim;
  const int rows = std::min(kRows, (lq - i0 + step - 1) / step);
  const int hk = kv_head_of(h, a.heads_q, a.heads_kv);
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  const LogitsHook logits{a.scale, a.softcap};
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();

  s.uni.clear();
  uint64_t pairs = 0;
  for (int r = 0; r < rows; ++r) {
    select_keys(p, mask, h, a.heads_q, i0 + r * step, lq, lk, s.lists[r]);
    pairs += s.lists[r].size();
    s.tmp.clear();
    std::set_union(s.uni.begin(), s.uni.end(), s.lists[r].begin(), s.lists[r].end(), std::back_inserter(s.tmp));
    std::swap(s.uni, s.tmp);
  }
  count_pairs(pairs);  // the rows' own keys; the union's other keys are scored, then masked

  // Q^T packed [d][32] (missing rows are zeros), O^T [d][32], m and l per lane.
  float* qt = s.qt.get(static_cast<size_t>(d) * kRows);
  float* ot = s.ot.get(static_cast<size_t>(d) * kRows);
  float* kt = s.k.get(static_cast<size_t>(kTile) * d);
  float* vt = s.v.get(static_cast<size_t>(kTile) * d);
  float* st = s.st.get(static_cast<size_t>(kTile) * kRows);
  float row[256];
  std::fill(qt, qt + static_cast<size_t>(d) * kRows, 0.0f);
  std::fill(ot, ot + static_cast<size_t>(d) * kRows, 0.0f);
  for (int r = 0; r < rows; ++r) {
    load_row_f32(a.dtype, host_ptr<const void>(a.q), row_offset(b, h, i0 + r * step, a.heads_q, a.len_q, d), row, d);
    for (int c = 0; c < d; ++c) qt[c * kRows + r] = row[c];
  }
  alignas(64) float m[kRows], l[kRows];
  size_t cur[kRows];
  std::fill(m, m + kRows, kNegInf);
  std::fill(l, l + kRows, 0.0f);
  std::fill(cur, cur + kRows, size_t{0});
  s.sel.resize(static_cast<size_t>(kTile) * kRows);

  for (size_t t0 = 0; t0 < s.uni.size(); t0 += kTile) {
    const int n = static_cast<int>(std::min<size_t>(kTile, s.uni.size() - t0));
    // fp32 keys that are consecutive are read in place; others are gathered.
    const float* kp = kt;
    const float* vp = vt;
    if (a.dtype == AB_F32 && s.uni[t0 + n - 1] - s.uni[t0] == n - 1) {
      const size_t off = row_offset(b, hk, s.uni[t0], a.heads_kv, a.len_k, d);
      kp = host_ptr<const float>(a.k) + off;
      vp = host_ptr<const float>(a.v) + off;
    } else {
      for (int t = 0; t < n; ++t) {
        const size_t off = row_offset(b, hk, s.uni[t0 + t], a.heads_kv, a.len_k, d);
        load_row_f32(a.dtype, host_ptr<const void>(a.k), off, kt + t * d, d);
        load_row_f32(a.dtype, host_ptr<const void>(a.v), off, vt + t * d, d);
      }
    }
    // Which (key, row) pairs each row selected: walk its list alongside the union.
    std::fill(s.sel.begin(), s.sel.begin() + static_cast<size_t>(n) * kRows, 0);
    const int last = s.uni[t0 + n - 1];
    for (int r = 0; r < rows; ++r) {
      const std::vector<int>& keys = s.lists[r];
      int t = 0;
      while (cur[r] < keys.size() && keys[cur[r]] <= last) {
        while (s.uni[t0 + t] < keys[cur[r]]) ++t;
        s.sel[static_cast<size_t>(t) * kRows + r] = 1;
        ++cur[r];
      }
    }
    score_tile(qt, d, kp, d, n, st);
    if (a.softcap > 0.0f) {
      for (int i = 0; i < n * kRows; ++i)
        st[i] = s.sel[i] ? logits.apply<float>(st[i], tanh_f) * kLog2e : kNegInf;
    } else {
      const float c = a.scale * kLog2e;
      const unsigned char* sel = s.sel.data();
      for (int i = 0; i < n * kRows; ++i) st[i] = sel[i] ? st[i] * c : kNegInf;
    }
    V16 alpha[2];
    for (int half = 0; half < 2; ++half) {
      V16 mx = v_load(m + half * 16);
      const V16 m_old = mx;
      for (int t = 0; t < n; ++t) mx = v_max(mx, v_load(st + t * kRows + half * 16));
      const V16 m_use = v_neg_inf_to_zero(mx);  // rows without keys yet: exp2(-inf) = 0
      alpha[half] = v_exp2(v_sub(m_old, m_use));
      V16 sum = v_zero();
      for (int t = 0; t < n; ++t) {
        const V16 pt = v_exp2(v_sub(v_load(st + t * kRows + half * 16), m_use));
        v_store(st + t * kRows + half * 16, pt);
        sum = v_add(sum, pt);
      }
      v_store(l + half * 16, v_fmadd(v_load(l + half * 16), alpha[half], sum));
      v_store(m + half * 16, mx);
    }
    value_tile(st, n, vp, d, d, ot, alpha[0], alpha[1]);
  }

  for (int r = 0; r < rows; ++r) {
    const size_t off = row_offset(b, h, i0 + r * step, a.heads_q, a.len_q, d);
    if (!(l[r] > 0.0f)) {
      store_zero_row(a.dtype, host_ptr<void>(a.o), off, d);
      continue;
    }
    const float inv = 1.0f / l[r];
    for (int c = 0; c < d; ++c) row[c] = ot[c * kRows + r] * inv;
    store_row(a.dtype, host_ptr<void>(a.o), off, row, d);
  }
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
  // Dilated windows: rows of one residue class mod dilation share their keys, so a
  // block takes kRows rows of one class out of a super-block of kRows * dilation rows.
  const int step = p.kind == StaticPattern::Kind::kNeighborhood && p.stride == 1 ? p.dilation : 1;
  const int super = kRows * step;
  int max_blocks = 0;
  for (int b = 0; b < a.batch; ++b) max_blocks = std::max(max_blocks, (len_q_of(a, b) + super - 1) / super * step);
  const long long total = static_cast<long long>(a.batch) * a.heads_q * max_blocks;
  tbb::parallel_for(tbb::blocked_range<long long>(0, total), [&](const tbb::blocked_range<long long>& range) {
    Scratch& scratch = local_scratch();  // one TLS lookup per range
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

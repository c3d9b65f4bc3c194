// Attention of a block of query rows over per-row key ranges (sparse_rows.h): the rows'
// ranges are merged into one sorted union, whose keys are taken tile by tile (kTile
// keys: read in place when consecutive fp32, else gathered and converted) and consumed
// by the flash microkernels with an online softmax per row, masked by each row's own
// ranges. Nothing of size L x L is built.
#include "sparse_rows.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "attnbench/attention_hooks.h"
#include "flash_microkernel.h"
#include "pair_count.h"

AB_CPU_NS_BEGIN
namespace {

static_assert(kSparseRows == kQRows, "a row block fills the 32 lanes of the flash microkernels");
constexpr int kRows = kSparseRows;
constexpr int kTile = 64;  // keys per gathered tile
constexpr float kLog2e = 1.4426950408889634f;

float tanh_f(float x) { return std::tanh(x); }

}  // namespace

SparseRows& sparse_rows_scratch() {
  thread_local SparseRows s;
  return s;
}

void ranges_of_keys(const std::vector<int>& keys, std::vector<KeyRange>& out) {
  out.clear();
  for (int t : keys) {
    if (!out.empty() && out.back().hi == t) ++out.back().hi;
    else out.push_back({t, t + 1});
  }
}

namespace {

/// uni = uni ∪ add (both sorted, disjoint; touching ranges merge), through tmp.
void union_ranges(std::vector<KeyRange>& uni, const std::vector<KeyRange>& add, std::vector<KeyRange>& tmp) {
  tmp.clear();
  size_t i = 0, j = 0;
  while (i < uni.size() || j < add.size()) {
    const KeyRange next = j == add.size() || (i < uni.size() && uni[i].lo <= add[j].lo) ? uni[i++] : add[j++];
    if (next.empty()) continue;
    if (!tmp.empty() && next.lo <= tmp.back().hi) tmp.back().hi = std::max(tmp.back().hi, next.hi);
    else tmp.push_back(next);
  }
  std::swap(uni, tmp);
}

}  // namespace

void attend_row_lists(const ab_attention_args& a, int b, int h, int i0, int step, int rows, SparseRows& s) {
  const int d = a.head_dim;
  const int hk = kv_head_of(h, a.heads_q, a.heads_kv);
  const LogitsHook logits{a.scale, a.softcap};
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();

  s.uni.clear();
  uint64_t pairs = 0;
  for (int r = 0; r < rows; ++r) {
    // Touching ranges (kept blocks j and j + 1) become one, so one range covers a tile.
    std::vector<KeyRange>& rg = s.ranges[r];
    size_t w = 0;
    for (const KeyRange& k : rg) {
      if (k.empty()) continue;
      pairs += static_cast<uint64_t>(k.hi - k.lo);
      if (w > 0 && rg[w - 1].hi == k.lo) rg[w - 1].hi = k.hi;
      else rg[w++] = k;
    }
    rg.resize(w);
    union_ranges(s.uni, rg, s.tmp);
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
  size_t cur[kRows];  // each row's first range not yet behind the tiles
  std::fill(m, m + kRows, kNegInf);
  std::fill(l, l + kRows, 0.0f);
  std::fill(cur, cur + kRows, size_t{0});
  const float c = a.scale * kLog2e;

  // Tiles take the next kTile keys of the union, across its ranges: one consecutive run
  // is read in place (fp32), anything else is gathered and converted.
  size_t ui = 0;
  int ut = s.uni.empty() ? 0 : s.uni[0].lo;
  int tk[kTile];
  while (ui < s.uni.size()) {
    int n = 0;
    while (n < kTile && ui < s.uni.size()) {
      tk[n++] = ut++;
      if (ut >= s.uni[ui].hi && ++ui < s.uni.size()) ut = s.uni[ui].lo;
    }
    const bool run = tk[n - 1] - tk[0] == n - 1;
    const float* kp = kt;
    const float* vp = vt;
    if (a.dtype == AB_F32 && run) {
      const size_t off = row_offset(b, hk, tk[0], a.heads_kv, a.len_k, d);
      kp = host_ptr<const float>(a.k) + off;
      vp = host_ptr<const float>(a.v) + off;
    } else {
      for (int t = 0; t < n; ++t) {
        const size_t off = row_offset(b, hk, tk[t], a.heads_kv, a.len_k, d);
        load_row_f32(a.dtype, host_ptr<const void>(a.k), off, kt + t * d, d);
        load_row_f32(a.dtype, host_ptr<const void>(a.v), off, vt + t * d, d);
      }
    }
    score_tile(qt, d, kp, d, n, st);
    if (a.softcap > 0.0f) {
      for (int i = 0; i < n * kRows; ++i) st[i] = logits.apply<float>(st[i], tanh_f) * kLog2e;
    } else {
      for (int i = 0; i < n * kRows; i += 16) v_store(st + i, v_mul(v_load(st + i), v_set1(c)));
    }
    // Each row keeps only its own keys: a row whose range covers the whole run needs no
    // mask (the common case of windows and kept blocks); others walk their ranges.
    for (int r = 0; r < kRows; ++r) {
      if (r >= rows) {  // padding lanes
        for (int t = 0; t < n; ++t) st[t * kRows + r] = kNegInf;
        continue;
      }
      const std::vector<KeyRange>& rg = s.ranges[r];
      while (cur[r] < rg.size() && rg[cur[r]].hi <= tk[0]) ++cur[r];
      if (run && cur[r] < rg.size() && rg[cur[r]].lo <= tk[0] && rg[cur[r]].hi > tk[n - 1]) continue;
      size_t k = cur[r];
      for (int t = 0; t < n; ++t) {
        while (k < rg.size() && rg[k].hi <= tk[t]) ++k;
        if (k == rg.size() || rg[k].lo > tk[t]) st[t * kRows + r] = kNegInf;
      }
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


AB_CPU_NS_END

// Attention of a block of query rows over per-row key lists (sparse_rows.h): the rows'
// lists are merged into one sorted union, whose keys are gathered tile by tile (kTile
// keys, converted to fp32) and consumed by the flash microkernels with an online
// softmax per row, masked by each row's own list. Nothing of size L x L is built.
#include "sparse_rows.h"

#include <algorithm>
#include <cmath>
#include <iterator>
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

void attend_row_lists(const ab_attention_args& a, int b, int h, int i0, int step, int rows, SparseRows& s) {
  const int d = a.head_dim;
  const int hk = kv_head_of(h, a.heads_q, a.heads_kv);
  const LogitsHook logits{a.scale, a.softcap};
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();

  s.uni.clear();
  uint64_t pairs = 0;
  for (int r = 0; r < rows; ++r) {
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


AB_CPU_NS_END

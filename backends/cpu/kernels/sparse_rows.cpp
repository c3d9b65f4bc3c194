// Attention of a block of query rows over per-row key ranges (sparse_rows.h): the rows'
// ranges are merged into one sorted union, whose keys are taken tile by tile (kTile
// keys: read in place when consecutive fp32, else gathered and converted) and consumed
// by the flash microkernels with an online softmax per row, masked by each row's own
// ranges. Nothing of size L x L is built.
#include "sparse_rows.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "attnbench/attention_hooks.h"
#include "flash_microkernel.h"
#include "pair_count.h"

AB_CPU_NS_BEGIN
namespace {

static_assert(kSparseRows == kQRows, "a row block fills the 32 lanes of the flash microkernels");
constexpr int kRows = kSparseRows;
constexpr int kTile = 64;  // keys per gathered tile

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

/// The union of the rows' ranges (sorted, disjoint, touching ones merged) through a
/// bitmap over the keys they span: a bit per key, set a word at a time inside long
/// ranges, so 32 rows of many one-key ranges (strided, dilated patterns) cost a bit each
/// and far-apart kept blocks cost a few words.
void union_of_rows(const std::vector<KeyRange>* ranges, int rows, std::vector<uint64_t>& bits,
                   std::vector<KeyRange>& uni) {
  uni.clear();
  int lo = INT32_MAX, hi = INT32_MIN;
  for (int r = 0; r < rows; ++r)
    for (const KeyRange& k : ranges[r])
      if (!k.empty()) lo = std::min(lo, k.lo), hi = std::max(hi, k.hi);
  if (lo >= hi) return;
  bits.assign(static_cast<size_t>(hi - lo + 63) / 64, 0);
  for (int r = 0; r < rows; ++r)
    for (const KeyRange& k : ranges[r])
      for (int t = k.lo - lo, end = k.hi - lo; t < end;) {
        const int b = t & 63, n = std::min(end - t, 64 - b);
        bits[t >> 6] |= (n == 64 ? ~uint64_t{0} : ((uint64_t{1} << n) - 1)) << b;
        t += n;
      }
  for (size_t w = 0; w < bits.size(); ++w) {
    uint64_t x = bits[w];
    while (x) {
      const int b = __builtin_ctzll(x);
      const uint64_t gaps = ~(x >> b);  // ones from the end of this run of set bits on
      const int len = gaps == 0 ? 64 : __builtin_ctzll(gaps);
      const int t = static_cast<int>(w * 64) + b + lo;
      if (!uni.empty() && uni.back().hi == t) uni.back().hi += len;
      else uni.push_back({t, t + len});
      if (b + len >= 64) break;
      x &= ~uint64_t{0} << (b + len);
    }
  }
}

/// Which rows keep each key of the union: bit r of the key's word is set when row r
/// keeps it. Indexed by key - uni.front().lo (returns that offset) where the union fills
/// at least a quarter of its span, so one-key ranges (strided, dilated patterns) need no
/// search; else by the key's position in the union (keys of uni[0], then uni[1], ...;
/// returns -1), so far-apart kept blocks do not pay for the keys between them. A row's
/// ranges each lie inside one union range, found by a cursor (both sorted).
int rows_of_union(const std::vector<KeyRange>* ranges, int rows, const std::vector<KeyRange>& uni,
                  std::vector<uint32_t>& rows_of) {
  if (uni.empty()) return 0;
  size_t keys = 0;
  for (const KeyRange& u : uni) keys += static_cast<size_t>(u.hi - u.lo);
  const int lo = uni.front().lo;
  const size_t span = static_cast<size_t>(uni.back().hi - lo);
  if (span <= 4 * keys) {
    rows_of.assign(span, 0);
    for (int r = 0; r < rows; ++r) {
      const uint32_t bit = uint32_t{1} << r;
      for (const KeyRange& k : ranges[r])
        for (int t = k.lo; t < k.hi; ++t) rows_of[t - lo] |= bit;
    }
    return lo;
  }
  rows_of.assign(keys, 0);
  for (int r = 0; r < rows; ++r) {
    const uint32_t bit = uint32_t{1} << r;
    size_t i = 0, pos = 0;  // pos: union position of uni[i].lo
    for (const KeyRange& k : ranges[r]) {
      if (k.empty()) continue;
      while (uni[i].hi <= k.lo) pos += static_cast<size_t>(uni[i].hi - uni[i].lo), ++i;
      uint32_t* w = rows_of.data() + pos + (k.lo - uni[i].lo);
      for (int t = 0, n = k.hi - k.lo; t < n; ++t) w[t] |= bit;
    }
  }
  return -1;
}

}  // namespace

void attend_row_lists(const ab_attention_args& a, int b, int h, int i0, int step, int rows, SparseRows& s,
                      const RowListExtras& x) {
  const auto row_at = [&](int r) { return x.row_of ? x.row_of[r] : i0 + r * step; };
  const int d = a.head_dim;
  const int hk = kv_head_of(h, a.heads_q, a.heads_kv);
  const LogitsHook logits{a.scale, a.softcap};
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();

  uint64_t pairs = 0;
  for (int r = 0; r < rows; ++r)
    for (const KeyRange& k : s.ranges[r]) pairs += static_cast<uint64_t>(std::max(0, k.hi - k.lo));
  union_of_rows(s.ranges, rows, s.bits, s.uni);
  const int by_key = rows_of_union(s.ranges, rows, s.uni, s.rows_of);  // -1: by union position
  const uint32_t* rows_of = s.rows_of.data();
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
    load_row_f32(a.dtype, host_ptr<const void>(a.q), row_offset(b, h, row_at(r), a.heads_q, a.len_q, d), row, d);
    for (int c = 0; c < d; ++c) qt[c * kRows + r] = row[c];
  }
  alignas(64) float m[kRows], l[kRows];
  std::fill(m, m + kRows, kNegInf);
  std::fill(l, l + kRows, 0.0f);
  const float c = a.scale * kLog2e;

  // Tiles take the next kTile keys of the union, across its ranges: one consecutive run
  // is read in place (fp32), anything else is gathered and converted. p0 is the tile's
  // first position in the union (rows_of's index).
  const uint32_t all_rows = rows == kRows ? ~uint32_t{0} : (uint32_t{1} << rows) - 1;
  size_t ui = 0;
  int ut = s.uni.empty() ? 0 : s.uni[0].lo;
  int tk[kTile], packed[kTile];
  for (int p0 = 0; ui < s.uni.size(); ) {
    int n = 0;
    while (n < kTile && ui < s.uni.size()) {
      tk[n++] = ut++;
      if (ut >= s.uni[ui].hi && ++ui < s.uni.size()) ut = s.uni[ui].lo;
    }
    const uint32_t* keep_of = by_key >= 0 ? nullptr : rows_of + p0;
    p0 += n;
    // tk holds union positions (rows_of's index). The tile's K/V rows are fp32 rows by
    // position (x.k_rows) or rows of a's tensors by key (key_of maps positions to keys):
    // read in place when consecutive fp32, else copied or converted into kt, vt.
    const int* at = tk;
    if (!x.k_rows && x.key_of) {
      for (int t = 0; t < n; ++t) packed[t] = x.key_of[tk[t]];
      at = packed;
    }
    const float* kp = kt;
    const float* vp = vt;
    if (x.k_rows || a.dtype == AB_F32) {
      const size_t base = x.k_rows ? 0 : row_offset(b, hk, 0, a.heads_kv, a.len_k, d);
      const float* kb = (x.k_rows ? x.k_rows : host_ptr<const float>(a.k)) + base;
      const float* vb = (x.k_rows ? x.v_rows : host_ptr<const float>(a.v)) + base;
      if (at[n - 1] - at[0] == n - 1) {
        kp = kb + static_cast<size_t>(at[0]) * d;
        vp = vb + static_cast<size_t>(at[0]) * d;
      } else {
        for (int t = 0; t < n; ++t) {
          std::memcpy(kt + t * d, kb + static_cast<size_t>(at[t]) * d, sizeof(float) * d);
          std::memcpy(vt + t * d, vb + static_cast<size_t>(at[t]) * d, sizeof(float) * d);
        }
      }
    } else {
      for (int t = 0; t < n; ++t) {
        const size_t off = row_offset(b, hk, at[t], a.heads_kv, a.len_k, d);
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
    if (x.log2_weight)
      for (int t = 0; t < n; ++t) {
        const V16 w = v_set1(x.log2_weight[tk[t]]);
        v_store(st + t * kRows, v_add(v_load(st + t * kRows), w));
        v_store(st + t * kRows + 16, v_add(v_load(st + t * kRows + 16), w));
      }
    // Each row keeps only its own keys: a key every row keeps (inside windows and kept
    // blocks, the common case) needs no mask. Padding lanes (rows..31) are never stored.
    for (int t = 0; t < n; ++t) {
      const uint32_t keep = keep_of ? keep_of[t] : rows_of[tk[t] - by_key];
      if (keep == all_rows) continue;
      for (int r = 0; r < rows; ++r)
        if (!((keep >> r) & 1u)) st[t * kRows + r] = kNegInf;
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
    const size_t off = row_offset(b, h, row_at(r), a.heads_q, a.len_q, d);
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

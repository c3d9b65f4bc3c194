#include "host_emulation.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "decode_replay.h"
#include "kernel_math.h"
#include "kv_addressing.h"

namespace attnbench::gpu {
namespace {

int len_q_of(const ab_attention_args& a, int b) { return a.seq_len_q ? a.seq_len_q[b] : a.len_q; }
int len_k_of(const ab_attention_args& a, int b) { return a.seq_len_k ? a.seq_len_k[b] : a.len_k; }

/// K/V rows of (batch b, KV head hk) read in place through a KV addressing.
template <class Kv>
struct KvRows {
  const Kv& kv;
  const float *k, *v;
  int b, hk;
  const float* k_row(int key) const { return k + kv.row_offset(b, hk, key); }
  const float* v_row(int key) const { return v + kv.row_offset(b, hk, key); }
};

/// One query row over keys [lo, hi) in tiles of block_n, as the SIMT and decode bodies
/// do: per tile, logits -> tile max -> rescale -> probabilities -> accumulate. `rows`
/// gives key rows (k_row/v_row). Leaves the normalised output in out, returns the LSE.
template <class Rows>
float attend_row(const ab_attention_args& a, const Rows& rows, const float* qrow, KeyRange visible,
                 KeyRange clip, int block_n, float* out) {
  const int d = a.head_dim;
  const LogitsHook logits{a.scale, a.softcap};
  const int lo = std::max(visible.lo, clip.lo), hi = std::min(visible.hi, clip.hi);
  std::vector<float> acc(d, 0.0f), s(block_n);
  OnlineSoftmax st = OnlineSoftmax::start();
  const TileSpan tiles = key_tiles(KeyRange{lo, std::max(lo, hi)}, block_n);
  for (int t = tiles.first; t < tiles.end; ++t) {
    float tile_max = neg_inf();
    for (int j = 0; j < block_n; ++j) {
      const int key = t * block_n + j;
      s[j] = neg_inf();
      if (key < lo || key >= hi) continue;
      const float* krow = rows.k_row(key);
      float dot = 0.0f;
      for (int c = 0; c < d; ++c) dot += qrow[c] * krow[c];
      s[j] = apply_logits(logits, dot);
      tile_max = std::max(tile_max, s[j]);
    }
    const float alpha = st.rescale(tile_max);
    for (float& x : acc) x *= alpha;
    float mass = 0.0f;
    for (int j = 0; j < block_n; ++j) {
      const float p = st.prob(s[j]);
      if (p == 0.0f) continue;
      mass += p;
      const float* vrow = rows.v_row(t * block_n + j);
      for (int c = 0; c < d; ++c) acc[c] += p * vrow[c];
    }
    st.add(mass);
  }
  const float inv = st.inv_sum();
  for (int c = 0; c < d; ++c) out[c] = acc[c] * inv;
  return st.lse();
}

}  // namespace

void emulate_flash(const ab_attention_args& a, const float* q, const float* k, const float* v,
                   float* o, int block_m, int block_n) {
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  const ContiguousKv kv{a.heads_kv, a.len_k, a.head_dim};
  const FlashGrid grid = plan_flash_grid(a.batch, a.heads_q, a.len_q, block_m);
  for (int b = 0; b < grid.batch; ++b)
    for (int h = 0; h < grid.heads_q; ++h)
      for (int tq = 0; tq < grid.tiles_q; ++tq) {
        const int lq = len_q_of(a, b), lk = len_k_of(a, b);
        const int row0 = tq * block_m;
        if (row0 >= lq) continue;  // the kernel's early exit for varlen tiles
        const KeyRange block_keys = tile_key_range(mask, row0, row0 + block_m, lq, lk);
        const int hk = kv_head_of(h, a.heads_q, a.heads_kv);
        for (int i = row0; i < std::min(row0 + block_m, lq); ++i) {
          const size_t off = q_row_offset(b, h, i, a.heads_q, a.len_q, a.head_dim);
          attend_row(a, KvRows<ContiguousKv>{kv, k, v, b, hk}, q + off, mask.keys_for(i, lq, lk), block_keys,
                     block_n, o + off);
        }
      }
}

namespace {

/// K/V rows of one decode block staged as the kernel's threads load them: the block's
/// tiles [first, end) copied vector by vector through replay_decode_tile (fp32, warp
/// width 32); keys the block must not read stay zero.
struct StagedRows {
  int first_key, d;
  std::vector<float> k, v;
  const float* k_row(int key) const { return k.data() + static_cast<size_t>(key - first_key) * d; }
  const float* v_row(int key) const { return v.data() + static_cast<size_t>(key - first_key) * d; }
};

template <class Kv>
StagedRows stage_block(const Kv& kv, const float* k, const float* v, int b, int hk, KeyRange keys, int d) {
  const TileSpan tiles = key_tiles(KeyRange{keys.lo, std::max(keys.lo, keys.hi)}, kDecodeKeys);
  StagedRows s{tiles.first * kDecodeKeys, d, {}, {}};
  const size_t n = static_cast<size_t>(tiles.end - tiles.first) * kDecodeKeys * d;
  s.k.assign(n, 0.0f);
  s.v.assign(n, 0.0f);
  constexpr int kPerVec = kDecodeVecBytes / static_cast<int>(sizeof(float));
  for (int t = tiles.first; t < tiles.end; ++t)
    replay_decode_tile(kv, b, hk, t, keys.lo, keys.hi, d, sizeof(float), 32, [&](int key, int vec, size_t off) {
      const size_t dst = static_cast<size_t>(key - s.first_key) * d + static_cast<size_t>(vec) * kPerVec;
      std::copy(k + off, k + off + kPerVec, s.k.begin() + dst);
      std::copy(v + off, v + off + kPerVec, s.v.begin() + dst);
    });
  return s;
}

/// emulate_decode over one KV addressing: blocks (b, hk, row tile, split) as
/// decode_attention_kernel forms them, each staging its keys once for all its rows.
template <class Kv>
void decode_blocks(const ab_attention_args& a, const Kv& kv, const float* q, const float* k, const float* v,
                   float* o, const SplitPlan& plan, int block_n) {
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  const int d = a.head_dim, ns = plan.num_splits;
  const size_t rows_total = static_cast<size_t>(a.batch) * a.heads_q * a.len_q;
  std::vector<float> part(static_cast<size_t>(ns) * rows_total * d), lse(static_cast<size_t>(ns) * rows_total);
  for (int b = 0; b < a.batch; ++b)
    for (int hk = 0; hk < a.heads_kv; ++hk) {
      const int lq = len_q_of(a, b), lk = len_k_of(a, b);
      const RowMap map{a.heads_q / a.heads_kv, lq};
      for (int row0 = 0; row0 < map.rows(); row0 += kDecodeRows)
        for (int s = 0; s < ns; ++s) {
          const KeyRange keys = decode_block_keys(mask, map, row0, plan, s, lk);
          // Rows of whole 16-byte vectors take the decode kernel (staged loads); others
          // the SIMT body, which reads elements in place (use_decode_kernel).
          const bool vectors = decode_vectors_per_row(d, sizeof(float)) > 0;
          const StagedRows staged = vectors ? stage_block(kv, k, v, b, hk, keys, d) : StagedRows{0, d, {}, {}};
          for (int vr = row0; vr < std::min(row0 + kDecodeRows, map.rows()); ++vr) {
            const size_t off = q_row_offset(b, map.head(hk, vr), map.query(vr), a.heads_q, a.len_q, d);
            const KeyRange visible = mask.keys_for(map.query(vr), lq, lk);
            float* out = part.data() + s * rows_total * d + off;
            lse[s * rows_total + off / d] =
                vectors ? attend_row(a, staged, q + off, visible, keys, block_n, out)
                        : attend_row(a, KvRows<Kv>{kv, k, v, b, hk}, q + off, visible, keys, block_n, out);
          }
        }
    }
  // lse_merge_kernel: one output row at a time over the split partials.
  std::vector<float> w(ns), row_lse(ns);
  for (int b = 0; b < a.batch; ++b)
    for (int h = 0; h < a.heads_q; ++h)
      for (int i = 0; i < len_q_of(a, b); ++i) {
        const size_t off = q_row_offset(b, h, i, a.heads_q, a.len_q, d);
        for (int s = 0; s < ns; ++s) row_lse[s] = lse[s * rows_total + off / d];
        lse_merge_weights(row_lse.data(), ns, w.data());
        for (int c = 0; c < d; ++c) o[off + c] = lse_merge_value(part.data() + off + c, rows_total * d, w.data(), ns);
      }
}

}  // namespace

void emulate_decode(const ab_attention_args& a, const float* q, const float* k, const float* v,
                    const int32_t* block_table, float* o, const SplitPlan& plan, int block_n) {
  if (a.page_size > 0) {
    const PagedKv kv{a.heads_kv, a.page_size, a.head_dim, a.max_pages_per_seq, block_table, a.kv_layout};
    decode_blocks(a, kv, q, k, v, o, plan, block_n);
  } else {
    decode_blocks(a, ContiguousKv{a.heads_kv, a.len_k, a.head_dim}, q, k, v, o, plan, block_n);
  }
}

void emulate_naive(const ab_attention_args& a, const float* q, const float* k, const float* v,
                   float* o) {
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  const LogitsHook logits{a.scale, a.softcap};
  const ContiguousKv kv{a.heads_kv, a.len_k, a.head_dim};
  const int d = a.head_dim;
  std::vector<float> s(static_cast<size_t>(a.len_k));
  for (int b = 0; b < a.batch; ++b)
    for (int h = 0; h < a.heads_q; ++h) {
      const int lq = len_q_of(a, b), lk = seq_keys(a.seq_len_k, b, a.len_k);
      const int hk = kv_head_of(h, a.heads_q, a.heads_kv);
      for (int i = 0; i < lq; ++i) {
        const float* qrow = q + q_row_offset(b, h, i, a.heads_q, a.len_q, d);
        // naive_scores_kernel: K rows past lk are staged as zeros, their logits masked.
        for (int j = 0; j < a.len_k; ++j) {
          float acc = 0.0f;
          if (j < lk)
            for (int c = 0; c < d; ++c) acc += qrow[c] * k[kv.row_offset(b, hk, j) + c];
          s[j] = mask.visible(i, j, lq, lk) ? apply_logits(logits, acc) : neg_inf();
        }
        // naive_softmax_kernel over the whole padded row.
        float mx = neg_inf(), sum = 0.0f;
        for (int j = 0; j < a.len_k; ++j) mx = std::max(mx, s[j]);
        if (mx != neg_inf())
          for (int j = 0; j < a.len_k; ++j) sum += std::exp(s[j] - mx);
        const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
        for (int j = 0; j < a.len_k; ++j)
          s[j] = s[j] == neg_inf() || inv == 0.0f ? 0.0f : std::exp(s[j] - mx) * inv;
        // naive_pv_kernel: keys [0, lk) only.
        float* out = o + q_row_offset(b, h, i, a.heads_q, a.len_q, d);
        for (int c = 0; c < d; ++c) {
          float acc = 0.0f;
          for (int j = 0; j < lk; ++j) acc += s[j] * v[kv.row_offset(b, hk, j) + c];
          out[c] = acc;
        }
      }
    }
}

}  // namespace attnbench::gpu

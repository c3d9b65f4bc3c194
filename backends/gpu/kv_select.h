// Top-k selection, inner products and compaction of the KV primitives as host/device
// work items (see kv_score.h for the convention). Top-k's block-parallel parts (the
// radix histograms and the position-order scans) live in kv_kernels.cuh and in
// kv_emulation.cpp; the rules they apply (key order, radix step, which positions are
// kept) are the functions here, so both select the same positions.
#pragma once

#include "kv_math.h"

namespace attnbench::gpu::kv {

/// Top-k arguments on the device: rows of n scores, k kept per row, forced ends.
struct TopkParams {
  int rows, n, k, force_head, force_tail;
  const float* scores;  // [rows, n]
  int32_t* out;         // [rows, k]

  /// Positions chosen by score: [force_head, n - force_tail).
  AB_INLINE int mid_lo() const { return force_head; }
  AB_INLINE int mid_hi() const { return n - force_tail; }
  /// How many positions the score decides (k less the forced ones).
  AB_INLINE int by_score() const { return k - force_head - force_tail; }
  AB_INLINE bool forced(int pos) const { return pos < mid_lo() || pos >= mid_hi(); }
  AB_INLINE uint32_t key(int row, int pos) const { return topk_key(scores[static_cast<size_t>(row) * n + pos]); }

  /// Whether position pos (in the scored range) is kept, given the finished radix
  /// select `sel` and how many earlier scored positions hold the threshold key:
  /// larger keys always, threshold keys while the lower positions have not used them up.
  AB_INLINE static bool kept(uint32_t key, const RadixSelect& sel, int equal_before) {
    return key > sel.prefix || (key == sel.prefix && equal_before < sel.want);
  }
};

/// Batched inner products, one index per output element.
struct DotElem {
  int batch, m, n, dim;
  const float* a;  // [batch, m, dim]
  const float* b;  // [batch, n, dim]
  float* out;      // [batch, m, n]
  AB_INLINE int64_t size() const { return static_cast<int64_t>(batch) * m * n; }
  AB_INLINE void operator()(int64_t idx) const {
    const int64_t per = static_cast<int64_t>(m) * n;
    const int64_t bb = idx / per, rem = idx % per;
    const int i = static_cast<int>(rem / n), j = static_cast<int>(rem % n);
    out[idx] = dot_row(a + (bb * m + i) * dim, b + (bb * n + j) * dim, dim);
  }
};

/// Compaction arguments on the device.
struct CompactParams {
  int heads_kv, len_k, head_dim, kept_stride;
  const float* k;
  const float* v;
  const int32_t* kept;        // [heads_kv, kept_stride]
  const int32_t* kept_count;  // [heads_kv]
  const uint8_t* mask;        // [heads_kv, head_dim] or null
  uint8_t* flags;             // scratch [heads_kv, len_k], zeroed: 1 = kept by the head
  float* mean_k;              // scratch [heads_kv, head_dim]: mean of the tokens not kept
  float* mean_v;
  float* k_out;               // [heads_kv, kept_stride, head_dim]
  float* v_out;

  AB_INLINE size_t row(int j, int t) const { return (static_cast<size_t>(j) * len_k + t) * head_dim; }
};

/// One index per (kv head, slot): marks the positions the head keeps.
struct CompactFlag {
  CompactParams p;
  AB_INLINE int64_t size() const { return static_cast<int64_t>(p.heads_kv) * p.kept_stride; }
  AB_INLINE void operator()(int64_t idx) const {
    const int j = static_cast<int>(idx / p.kept_stride), s = static_cast<int>(idx % p.kept_stride);
    if (s >= p.kept_count[j]) return;
    const int pos = p.kept[idx];
    if (pos >= 0) p.flags[static_cast<size_t>(j) * p.len_k + pos] = 1;
  }
};

/// One index per (kv head, channel), after CompactFlag: mean K and V over the tokens the
/// head does not keep (the compensation slot; 0 when it keeps them all).
struct CompactMean {
  CompactParams p;
  AB_INLINE int64_t size() const { return static_cast<int64_t>(p.heads_kv) * p.head_dim; }
  AB_INLINE void operator()(int64_t idx) const {
    const int j = static_cast<int>(idx / p.head_dim), c = static_cast<int>(idx % p.head_dim);
    float sk = 0.0f, sv = 0.0f;
    int n = 0;
    for (int t = 0; t < p.len_k; ++t) {
      if (p.flags[static_cast<size_t>(j) * p.len_k + t]) continue;
      sk += p.k[p.row(j, t) + c];
      sv += p.v[p.row(j, t) + c];
      ++n;
    }
    p.mean_k[idx] = n ? sk / static_cast<float>(n) : 0.0f;
    p.mean_v[idx] = n ? sv / static_cast<float>(n) : 0.0f;
  }
};

/// One index per (kv head, slot, channel): copies the kept token (or the compensation
/// means for slot position -1) and zeroes masked key channels.
struct CompactGather {
  CompactParams p;
  AB_INLINE int64_t size() const { return static_cast<int64_t>(p.heads_kv) * p.kept_stride * p.head_dim; }
  AB_INLINE void operator()(int64_t idx) const {
    const int64_t slot = idx / p.head_dim;
    const int c = static_cast<int>(idx % p.head_dim);
    const int j = static_cast<int>(slot / p.kept_stride), s = static_cast<int>(slot % p.kept_stride);
    if (s >= p.kept_count[j]) return;  // untouched
    const int pos = p.kept[slot];
    const size_t mc = static_cast<size_t>(j) * p.head_dim + c;
    float kv = pos >= 0 ? p.k[p.row(j, pos) + c] : p.mean_k[mc];
    const float vv = pos >= 0 ? p.v[p.row(j, pos) + c] : p.mean_v[mc];
    if (p.mask && !p.mask[mc]) kv = 0.0f;
    p.k_out[idx] = kv;
    p.v_out[idx] = vv;
  }
};

}  // namespace attnbench::gpu::kv

// Portable SIMT attention kernel (CUDA and HIP, any warp width): the `flash` path for
// fp32 and for HIP, and the split-K body of `decode`. One warp owns kSimtRows query
// rows; a block of kSimtWarps warps shares each K/V tile of kSimtKeys keys in shared
// memory. The math (tiles, online softmax, splits, KV addressing) comes from the
// host/device headers that host_emulation.cpp also uses. Device TU only (C++17).
#pragma once

#include "gpu_compat.h"
#include "kernel_math.h"
#include "kv_addressing.h"
#include "launch_plan.h"

namespace attnbench::gpu {

constexpr int kSimtWarps = 4;
constexpr int kSimtRows = 4;                        // query rows per warp
constexpr int kSimtBlockM = kSimtWarps * kSimtRows; // query rows per block
constexpr int kSimtKeys = 32;                       // keys per tile (one per lane of a 32-group)

/// Everything a SIMT launch needs besides the KV addressing (passed by value).
struct SimtParams {
  const void* q;
  const void* k;
  const void* v;
  void* o;              // final output (used when part_o is null)
  float* part_o;        // [num_splits][rows_total][d] normalised partials, or null
  float* part_lse;      // [num_splits][rows_total]
  const int32_t* seq_len_q;  // device arrays or null
  const int32_t* seq_len_k;
  int batch, heads_q, heads_kv, len_q, len_k, head_dim;
  int pack;             // query heads per block (RowMap): 1 for flash, the GQA group for decode
  MaskHook mask;
  LogitsHook logits;
  SplitPlan plan;
};

/// Reduces over the 32 lanes of each half-warp group (lanes hold one key each).
__device__ __forceinline__ float group_max(float x) {
  for (int off = 16; off > 0; off >>= 1) x = fmaxf(x, shfl_xor(x, off));
  return x;
}
__device__ __forceinline__ float group_sum(float x) {
  for (int off = 16; off > 0; off >>= 1) x += shfl_xor(x, off);
  return x;
}

/// Stages block rows [row0, row0 + ROWS) of Q (virtual rows of `map`, zeros past its
/// end) into sQ as fp32, the block's `threads` threads striding over the elements.
template <class T, int ROWS, int DMAX>
__device__ __forceinline__ void stage_q_rows(const SimtParams& p, const RowMap& map, int b, int hb, int row0,
                                             float (&sQ)[ROWS][DMAX], int tid, int threads) {
  const T* q = static_cast<const T*>(p.q);
  const int d = p.head_dim;
  for (int idx = tid; idx < ROWS * d; idx += threads) {
    const int r = idx / d, c = idx - r * d, vr = row0 + r;
    sQ[r][c] = vr < map.rows()
                   ? to_float(q[q_row_offset(b, map.head(hb, vr), map.query(vr), p.heads_q, p.len_q, d) + c])
                   : 0.0f;
  }
}

/// Logical grid (row tiles * num_splits, heads_q / pack, batch) folded by `g` (GridFold),
/// block = kSimtWarps * warp width. A block's rows are virtual rows of RowMap{pack, len_q}.
template <class T, int DMAX, class Kv>
__global__ void __launch_bounds__(kSimtWarps * kWarpSize)
simt_attention_kernel(SimtParams p, Kv kv, GridFold g) {
  constexpr int kParts = kWarpSize / 32;  // lanes sharing one key's dot product
  constexpr int kCols = (DMAX + kWarpSize - 1) / kWarpSize;
  __shared__ float sK[kSimtKeys][DMAX + 1];  // +1: lanes read different rows, same column
  __shared__ float sV[kSimtKeys][DMAX];
  __shared__ float sQ[kSimtBlockM][DMAX];

  BlockIdx3 blk;
  if (!g.unfold(blockIdx.x, blockIdx.y, blk)) return;  // tail of the folded grid (uniform)
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int key_lane = lane & 31, part = lane >> 5;
  const int ns = p.plan.num_splits;
  const int split = blk.x % ns, tq = blk.x / ns, hb = blk.y, b = blk.z;
  const int lq = p.seq_len_q ? p.seq_len_q[b] : p.len_q;
  const int lk = p.seq_len_k ? p.seq_len_k[b] : p.len_k;
  const RowMap map{p.pack, lq};
  const int row0 = tq * kSimtBlockM;
  if (row0 >= map.rows()) return;  // uniform per block: padded rows of a short sequence
  const int d = p.head_dim, hk = kv_head_of(map.head(hb, row0), p.heads_q, p.heads_kv);

  const KeyRange clip = p.plan.keys_of(split, lk);
  const KeyRange qs = map.queries_of(row0, kSimtBlockM);
  const KeyRange span = tile_key_range(p.mask, qs.lo, qs.hi, lq, lk);
  const int lo = max(span.lo, clip.lo), hi = min(span.hi, clip.hi);

  stage_q_rows<T>(p, map, b, hb, row0, sQ, threadIdx.x, blockDim.x);

  float acc[kSimtRows][kCols];
  OnlineSoftmax st[kSimtRows];
  KeyRange vis[kSimtRows];
#pragma unroll
  for (int r = 0; r < kSimtRows; ++r) {
    const int vr = row0 + warp * kSimtRows + r;
    st[r] = OnlineSoftmax::start();
    vis[r] = vr < map.rows() ? p.mask.keys_for(map.query(vr), lq, lk) : KeyRange{0, 0};
    vis[r].lo = max(vis[r].lo, lo);
    vis[r].hi = min(vis[r].hi, hi);
    _Pragma("unroll") for (int cc = 0; cc < kCols; ++cc) acc[r][cc] = 0.0f;
  }

  const T* kp = static_cast<const T*>(p.k);
  const T* vp = static_cast<const T*>(p.v);
  const TileSpan tiles = key_tiles(KeyRange{lo, max(lo, hi)}, kSimtKeys);
  for (int t = tiles.first; t < tiles.end; ++t) {
    const int key0 = t * kSimtKeys;
    __syncthreads();  // the previous tile (and sQ on the first pass) is complete
    for (int idx = threadIdx.x; idx < kSimtKeys * d; idx += blockDim.x) {
      const int j = idx / d, c = idx - j * d, key = key0 + j;
      const bool ok = key >= lo && key < hi;  // never touch pages outside the range
      const size_t off = ok ? kv.row_offset(b, hk, key) + c : 0;
      sK[j][c] = ok ? to_float(kp[off]) : 0.0f;
      sV[j][c] = ok ? to_float(vp[off]) : 0.0f;
    }
    __syncthreads();
  #pragma unroll
  for (int r = 0; r < kSimtRows; ++r) {
      if (vis[r].hi <= key0 || vis[r].lo >= key0 + kSimtKeys) continue;  // warp-uniform
      const int wr = warp * kSimtRows + r, key = key0 + key_lane;
      float dot = 0.0f;
      for (int c = part; c < d; c += kParts) dot += sQ[wr][c] * sK[key_lane][c];
      if constexpr (kParts == 2) dot += shfl_xor(dot, 32);
      const bool visible = key >= vis[r].lo && key < vis[r].hi;
      const float logit = visible ? apply_logits(p.logits, dot) : neg_inf();
      const float alpha = st[r].rescale(group_max(logit));
      const float prob = st[r].prob(logit);
      st[r].add(group_sum(prob));  // each 32-lane group holds every key of the tile once
      _Pragma("unroll") for (int cc = 0; cc < kCols; ++cc) acc[r][cc] *= alpha;
#pragma unroll 8
      for (int j = 0; j < kSimtKeys; ++j) {
        const float pj = shfl(prob, j);
        if (pj == 0.0f) continue;  // uniform: every lane got the same pj
        _Pragma("unroll") for (int cc = 0; cc < kCols; ++cc) {
          const int c = lane + cc * kWarpSize;
          if (c < d) acc[r][cc] += pj * sV[j][c];
        }
      }
    }
  }

  const size_t rows_total = static_cast<size_t>(p.batch) * p.heads_q * p.len_q;
#pragma unroll
  for (int r = 0; r < kSimtRows; ++r) {
    const int vr = row0 + warp * kSimtRows + r;
    if (vr >= map.rows()) continue;
    const float inv = st[r].inv_sum();
    const size_t off = q_row_offset(b, map.head(hb, vr), map.query(vr), p.heads_q, p.len_q, d);
    if (p.part_o) {
      float* out = p.part_o + split * rows_total * d + off;
      _Pragma("unroll") for (int cc = 0; cc < kCols; ++cc) {
        const int c = lane + cc * kWarpSize;
        if (c < d) out[c] = acc[r][cc] * inv;
      }
      if (lane == 0) p.part_lse[split * rows_total + off / d] = st[r].lse();
    } else {
      T* out = static_cast<T*>(p.o) + off;
      _Pragma("unroll") for (int cc = 0; cc < kCols; ++cc) {
        const int c = lane + cc * kWarpSize;
        if (c < d) out[c] = from_float<T>(acc[r][cc] * inv);
      }
    }
  }
}

/// Merges split partials into the output: one block per output row, logical grid
/// (len_q, heads_q, batch) folded by `g`.
template <class T>
__global__ void lse_merge_kernel(SimtParams p, GridFold g) {
  __shared__ float lse[kMaxSplits];
  __shared__ float w[kMaxSplits];
  BlockIdx3 blk;
  if (!g.unfold(blockIdx.x, blockIdx.y, blk)) return;
  const int ns = p.plan.num_splits, d = p.head_dim, i = blk.x, b = blk.z;
  if (p.seq_len_q && i >= p.seq_len_q[b]) return;  // padded row: left untouched
  const size_t row = (static_cast<size_t>(b) * p.heads_q + blk.y) * p.len_q + i;
  const size_t rows_total = static_cast<size_t>(p.batch) * p.heads_q * p.len_q;
  for (int s = threadIdx.x; s < ns; s += blockDim.x) lse[s] = p.part_lse[s * rows_total + row];
  __syncthreads();
  if (threadIdx.x == 0) lse_merge_weights(lse, ns, w);
  __syncthreads();
  T* out = static_cast<T*>(p.o) + row * d;
  for (int c = threadIdx.x; c < d; c += blockDim.x)
    out[c] = from_float<T>(lse_merge_value(p.part_o + row * d + c,
                                           rows_total * d, w, ns));
}

}  // namespace attnbench::gpu

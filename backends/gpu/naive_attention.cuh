// `naive`: the unfused baseline. S = QK^T is materialised in the working dtype
// (B x Hq x Lq x Lk elements), a row softmax turns it into P in place, then O = PV.
// Accumulation is fp32; masks and logits use the same hooks as flash. Portable SIMT
// code (16x16 shared-memory tiles), CUDA and HIP. Device TU only (C++17).
#pragma once

#include "gpu_compat.h"
#include "kernel_math.h"
#include "kv_addressing.h"
#include "simt_attention.cuh"

namespace attnbench::gpu {

constexpr int kNaiveTile = 16;
constexpr int kNaiveSoftmaxThreads = 256;

/// Element offset of S[b, h, i, j] in the [B, Hq, Lq, Lk] score buffer.
__device__ __forceinline__ size_t score_offset(const SimtParams& p, int b, int h, int i, int j) {
  return ((static_cast<size_t>(b) * p.heads_q + h) * p.len_q + i) * p.len_k + j;
}

/// S tile: logical grid (ceil(Lk/16), ceil(Lq/16), B*Hq) folded by `g` (GridFold),
/// block (16, 16). Masked logits are -inf.
template <class T>
__global__ void naive_scores_kernel(SimtParams p, T* s, GridFold g) {
  __shared__ float sq[kNaiveTile][kNaiveTile + 1], sk[kNaiveTile][kNaiveTile + 1];
  BlockIdx3 blk;
  if (!g.unfold(blockIdx.x, blockIdx.y, blk)) return;  // tail of the folded grid (uniform)
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int b = blk.z / p.heads_q, h = blk.z % p.heads_q;
  const int hk = kv_head_of(h, p.heads_q, p.heads_kv), d = p.head_dim;
  const int lq = p.seq_len_q ? p.seq_len_q[b] : p.len_q;
  const int lk = seq_keys(p.seq_len_k, b, p.len_k);
  const int i = blk.y * kNaiveTile + ty, j = blk.x * kNaiveTile + tx;
  const int krow = blk.x * kNaiveTile + ty;  // the K row this thread stages
  const ContiguousKv kv{p.heads_kv, p.len_k, d};
  const T* q = static_cast<const T*>(p.q);
  const T* k = static_cast<const T*>(p.k);
  float acc = 0.0f;
  for (int c0 = 0; c0 < d; c0 += kNaiveTile) {
    const int c = c0 + tx;
    sq[ty][tx] = (i < lq && c < d) ? to_float(q[q_row_offset(b, h, i, p.heads_q, p.len_q, d) + c]) : 0.0f;
    sk[ty][tx] = (krow < lk && c < d) ? to_float(k[kv.row_offset(b, hk, krow) + c]) : 0.0f;
    __syncthreads();
    for (int cc = 0; cc < kNaiveTile; ++cc) acc += sq[ty][cc] * sk[tx][cc];
    __syncthreads();
  }
  if (i >= p.len_q || j >= p.len_k) return;
  const bool visible = i < lq && p.mask.visible(i, j, lq, lk);
  s[score_offset(p, b, h, i, j)] = from_float<T>(visible ? apply_logits(p.logits, acc) : neg_inf());
}

/// Block-wide reduction over kNaiveSoftmaxThreads threads (max when is_max, else sum).
__device__ __forceinline__ float block_reduce(float x, bool is_max, float* buf) {
  buf[threadIdx.x] = x;
  __syncthreads();
  for (int stride = kNaiveSoftmaxThreads / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride)
      buf[threadIdx.x] = is_max ? fmaxf(buf[threadIdx.x], buf[threadIdx.x + stride])
                                : buf[threadIdx.x] + buf[threadIdx.x + stride];
    __syncthreads();
  }
  const float r = buf[0];
  __syncthreads();  // buf is reused by the next reduction
  return r;
}

/// S row -> P row in place: one block of kNaiveSoftmaxThreads per (b, h, i), logical
/// grid (Lq, Hq, B) folded by `g`.
template <class T>
__global__ void naive_softmax_kernel(SimtParams p, T* s, GridFold g) {
  __shared__ float buf[kNaiveSoftmaxThreads];
  BlockIdx3 blk;
  if (!g.unfold(blockIdx.x, blockIdx.y, blk)) return;
  const int i = blk.x, b = blk.z;
  if (p.seq_len_q && i >= p.seq_len_q[b]) return;  // padded row
  const size_t row = (static_cast<size_t>(b) * p.heads_q + blk.y) * p.len_q + i;
  T* srow = s + row * p.len_k;
  float mx = neg_inf();
  for (int j = threadIdx.x; j < p.len_k; j += blockDim.x) mx = fmaxf(mx, to_float(srow[j]));
  mx = block_reduce(mx, true, buf);
  float sum = 0.0f;
  if (mx != neg_inf())
    for (int j = threadIdx.x; j < p.len_k; j += blockDim.x) sum += expf(to_float(srow[j]) - mx);
  sum = block_reduce(sum, false, buf);
  const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;  // no visible key: P = 0, O = 0
  for (int j = threadIdx.x; j < p.len_k; j += blockDim.x) {
    const float x = to_float(srow[j]);
    srow[j] = from_float<T>(x == neg_inf() || inv == 0.0f ? 0.0f : expf(x - mx) * inv);
  }
}

/// O = P V: logical grid (ceil(d/16), ceil(Lq/16), B*Hq) folded by `g`, block (16, 16).
/// Only the sequence's own keys [0, seq_keys) are read: P is 0 on the padding, but
/// 0 * (NaN or Inf in a padded V row) would still poison O.
template <class T>
__global__ void naive_pv_kernel(SimtParams p, const T* s, GridFold g) {
  __shared__ float sp[kNaiveTile][kNaiveTile + 1], sv[kNaiveTile][kNaiveTile + 1];
  BlockIdx3 blk;
  if (!g.unfold(blockIdx.x, blockIdx.y, blk)) return;
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int b = blk.z / p.heads_q, h = blk.z % p.heads_q;
  const int hk = kv_head_of(h, p.heads_q, p.heads_kv), d = p.head_dim;
  const int lq = p.seq_len_q ? p.seq_len_q[b] : p.len_q;
  const int lk = seq_keys(p.seq_len_k, b, p.len_k);
  const int i = blk.y * kNaiveTile + ty, c = blk.x * kNaiveTile + tx;
  const ContiguousKv kv{p.heads_kv, p.len_k, d};
  const T* v = static_cast<const T*>(p.v);
  float acc = 0.0f;
  for (int j0 = 0; j0 < lk; j0 += kNaiveTile) {
    const int jp = j0 + tx, jv = j0 + ty;
    sp[ty][tx] = (i < lq && jp < lk) ? to_float(s[score_offset(p, b, h, i, jp)]) : 0.0f;
    sv[ty][tx] = (jv < lk && c < d) ? to_float(v[kv.row_offset(b, hk, jv) + c]) : 0.0f;
    __syncthreads();
    for (int jj = 0; jj < kNaiveTile; ++jj) acc += sp[ty][jj] * sv[jj][tx];
    __syncthreads();
  }
  if (i < lq && c < d)
    static_cast<T*>(p.o)[q_row_offset(b, h, i, p.heads_q, p.len_q, d) + c] = from_float<T>(acc);
}

}  // namespace attnbench::gpu

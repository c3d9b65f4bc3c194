// Device kernels of the KV primitives (CUDA and HIP, any warp width). Element-wise
// passes are the host/device work items of kv_score.h, kv_select.h and kv_quant.h run by
// one generic grid-stride kernel; top-k and quantised decode need a block per row and
// are written here, over the same rules (RadixSelect, TopkParams::kept, OnlineSoftmax,
// quant_load) the CPU emulation applies sequentially. Device TU only (C++17).
#pragma once

#include "gpu_compat.h"
#include "kernel_math.h"
#include "kv_quant.h"
#include "kv_score.h"
#include "kv_select.h"

namespace attnbench::gpu::kv {

constexpr int kForEachThreads = 256;
constexpr int kTopkThreads = 256;

/// Runs f(i) for every i < f.size(), one index per thread (grid-stride).
template <class F>
__global__ void __launch_bounds__(kForEachThreads) for_each_kernel(F f) {
  const int64_t n = f.size();
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) f(i);
}

/// Blocks for n indices: one index per thread up to a grid the device fills many times.
inline unsigned for_each_blocks(int64_t n) {
  const int64_t b = (n + kForEachThreads - 1) / kForEachThreads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > (1 << 20) ? (1 << 20) : b));
}

/// Inclusive prefix sum of one int per thread over the block (shared-memory
/// Hillis-Steele, independent of the warp width). All threads must call it.
__device__ inline int block_inclusive_scan(int x, int* buf) {
  buf[threadIdx.x] = x;
  __syncthreads();
  for (int off = 1; off < static_cast<int>(blockDim.x); off <<= 1) {
    const int add = threadIdx.x >= static_cast<unsigned>(off) ? buf[threadIdx.x - off] : 0;
    __syncthreads();
    buf[threadIdx.x] += add;
    __syncthreads();
  }
  const int r = buf[threadIdx.x];
  __syncthreads();
  return r;
}

/// Top-k, one block of kTopkThreads per row: a four-step radix select over the scored
/// range finds the threshold key, then one pass in position order writes the kept
/// positions (forced, above the threshold, or threshold keys at the lowest positions).
__global__ void __launch_bounds__(kTopkThreads) topk_kernel(TopkParams p) {
  __shared__ int hist[256];
  __shared__ int scan[kTopkThreads];
  __shared__ RadixSelect sel_s;
  const int row = blockIdx.x, kk = p.by_score();
  if (threadIdx.x == 0) sel_s = RadixSelect::start(kk);
  __syncthreads();
  for (int shift = 24; kk > 0 && shift >= 0; shift -= 8) {
    for (int i = threadIdx.x; i < 256; i += blockDim.x) hist[i] = 0;
    __syncthreads();
    const RadixSelect sel = sel_s;
    for (int pos = p.mid_lo() + threadIdx.x; pos < p.mid_hi(); pos += blockDim.x) {
      const uint32_t key = p.key(row, pos);
      if (sel.candidate(key)) atomicAdd(&hist[RadixSelect::digit(key, shift)], 1);
    }
    __syncthreads();
    if (threadIdx.x == 0) sel_s.step(hist, shift);
    __syncthreads();
  }
  const RadixSelect sel = sel_s;
  int written = 0, equal_seen = 0;  // totals of the earlier chunks (same in every thread)
  int32_t* out = p.out + static_cast<size_t>(row) * p.k;
  for (int base = 0; base < p.n; base += blockDim.x) {
    const int pos = base + threadIdx.x;
    const bool in = pos < p.n;
    const bool scored = in && !p.forced(pos);
    const uint32_t key = scored ? p.key(row, pos) : 0u;
    const int eq = (scored && kk > 0 && key == sel.prefix) ? 1 : 0;
    const int eq_incl = block_inclusive_scan(eq, scan);
    const bool keep = in && (!scored || (kk > 0 && TopkParams::kept(key, sel, equal_seen + eq_incl - eq)));
    const int keep_incl = block_inclusive_scan(keep ? 1 : 0, scan);
    if (keep) out[written + keep_incl - 1] = pos;
    // The last thread's inclusive sums are the chunk totals; broadcast them.
    if (threadIdx.x == blockDim.x - 1) { scan[0] = keep_incl; scan[1] = eq_incl; }
    __syncthreads();
    written += scan[0];
    equal_seen += scan[1];
    __syncthreads();
  }
}

/// Decode over a quantised cache, one block of kQuantTile threads per (query head, row):
/// each tile's logits come one per thread, then every thread folds the tile into the
/// online softmax (all hold the same state) and accumulates its own output channels.
__global__ void __launch_bounds__(kQuantTile) quant_decode_kernel(QuantDecodeParams p) {
  constexpr int kAcc = kQuantMaxHeadDim / kQuantTile;
  __shared__ float q_s[kQuantMaxHeadDim];
  __shared__ float s[kQuantTile];
  const int h = blockIdx.x / p.n_q, r = blockIdx.x % p.n_q, d = p.head_dim;
  const QuantHead hd = p.head_of(h);
  const float* qrow = p.q + (static_cast<size_t>(h) * p.n_q + r) * d;
  for (int c = threadIdx.x; c < d; c += blockDim.x) q_s[c] = qrow[c];
  float acc[kAcc];
#pragma unroll
  for (int a = 0; a < kAcc; ++a) acc[a] = 0.0f;
  OnlineSoftmax st = OnlineSoftmax::start();
  __syncthreads();
  for (int t0 = 0; t0 < hd.len; t0 += kQuantTile) {
    const int t = t0 + threadIdx.x, n = hd.len - t0 < kQuantTile ? hd.len - t0 : kQuantTile;
    s[threadIdx.x] = t < hd.len ? p.logit(hd, q_s, t) : neg_inf();
    __syncthreads();
    float tile_max = neg_inf();
    for (int i = 0; i < n; ++i) tile_max = fmaxf(tile_max, s[i]);
    const float alpha = st.rescale(tile_max);
    float mass = 0.0f;
#pragma unroll
    for (int a = 0; a < kAcc; ++a) acc[a] *= alpha;
    for (int i = 0; i < n; ++i) {
      const float pr = st.prob(s[i]);
      mass += pr;
#pragma unroll
      for (int a = 0; a < kAcc; ++a) {
        const int c = threadIdx.x + a * kQuantTile;
        if (c < d) acc[a] += pr * quant_load(p.cache, hd, 1, t0 + i, c);
      }
    }
    st.add(mass);
    __syncthreads();  // s is rewritten by the next tile
  }
  const float inv = st.inv_sum();
  float* out = p.o + (static_cast<size_t>(h) * p.n_q + r) * d;
#pragma unroll
  for (int a = 0; a < kAcc; ++a) {
    const int c = threadIdx.x + a * kQuantTile;
    if (c < d) out[c] = acc[a] * inv;
  }
}

}  // namespace attnbench::gpu::kv

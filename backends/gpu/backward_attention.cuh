// Backward pass of `flash` and `naive` (training attention): dQ, dK, dV from dO and the
// forward's O and LSE. Portable SIMT code for CUDA and HIP: block-level shared-memory
// tiles and __syncthreads only (no shuffles), so any warp width runs it unchanged; fp32
// math on inputs widened from the storage type. Tile shapes, the query range of a key
// block and the P / dS rule come from backward_math.h, which backward_emulation.cpp
// runs on the CPU. Device TU only (C++17).
//
// flash (FlashAttention-2's backward on SIMT): a preprocess pass writes D_i =
// rowsum(dO_i * O_i); the main kernel runs one block per (key block, KV head, batch),
// keeps that block's dK and dV in registers (summed over the query heads of the GQA
// group, so no other block writes them) and walks the query tiles that see its keys,
// recomputing P from Q K^T and the LSE. dQ rows get a contribution from every key block:
// they are added with fp32 atomics into a zeroed fp32 accumulator (the fp32 dQ itself
// for fp32 storage), then converted to the storage type. Atomics rather than a second
// dQ kernel over query blocks: that kernel would recompute S and dP (7 tile products per
// pair instead of 5); the price is run-to-run variation in the last bits of dQ (the
// order of fp32 additions), which the oracle tolerances absorb.
//
// naive: D_i as above, then P and dS materialised as fp32 [B, Hq, Lq, Lk] matrices,
// then dQ = scale dS K per query row and dK = scale dS^T Q, dV = P^T dO per key row
// (summing the group's query heads in order: deterministic), in 16 x 16 tiles.
#pragma once

// gpu_compat.h first: on HIP it brings hip_runtime.h, which defines the __forceinline__
// that AB_INLINE in the shared headers expands to.
#include "gpu_compat.h"

#include "backward_math.h"
#include "kernel_math.h"
#include "kv_addressing.h"
#include "launch_plan.h"

namespace attnbench::gpu {

/// Everything a backward launch needs (passed by value). Contiguous KV, no varlen.
struct BwdParams {
  const void* q;
  const void* k;
  const void* v;
  const void* o;
  const void* d_o;
  const float* lse;  // [B, Hq, Lq], natural log, -inf for rows without keys
  void* d_q;
  void* d_k;
  void* d_v;
  float* delta;   // [B, Hq, Lq]: D_i = rowsum(dO * O)
  float* dq_acc;  // flash: fp32 dQ accumulator [B, Hq, Lq, d]
  float* p;       // naive: P [B, Hq, Lq, Lk]
  float* ds;      // naive: dS [B, Hq, Lq, Lk]
  int batch, heads_q, heads_kv, len_q, len_k, head_dim;
  MaskHook mask;
  LogitsHook logits;  // softcap 0 (refused)
};

/// Work item of kv::for_each_kernel (launch_each): D_i = rowsum(dO_i * O_i) of row i,
/// one index per query row. Linear work next to the main kernels, so left uncoalesced.
template <class T>
struct BwdDeltaItem {
  BwdParams p;
  int64_t rows;
  AB_INLINE int64_t size() const { return rows; }
  __device__ void operator()(int64_t r) const {
    const T* o = static_cast<const T*>(p.o);
    const T* g = static_cast<const T*>(p.d_o);
    const size_t off = static_cast<size_t>(r) * p.head_dim;
    float acc = 0.0f;
    for (int c = 0; c < p.head_dim; ++c) acc += to_float(g[off + c]) * to_float(o[off + c]);
    p.delta[r] = acc;
  }
};

/// Work item of kv::for_each_kernel: element i of the fp32 dQ accumulator stored as T.
template <class T>
struct BwdConvertItem {
  const float* acc;
  T* out;
  int64_t n;
  AB_INLINE int64_t size() const { return n; }
  __device__ void operator()(int64_t i) const { out[i] = from_float<T>(acc[i]); }
};

/// flash backward main kernel: logical grid (ceil(Lk / kKeys), Hkv, B) folded by `g`,
/// BwdTile<DMAX>::kThreads threads. Thread t owns dK/dV elements t + e * kThreads of the
/// block's [kKeys][DMAX] tile (for DMAX 128: column t of every key), so a warp reads one
/// P / dS value (a broadcast) and consecutive dO / Q columns.
template <class T, int DMAX>
__global__ void __launch_bounds__(BwdTile<DMAX>::kThreads) flash_bwd_kernel(BwdParams p, GridFold g) {
  using Tile = BwdTile<DMAX>;
  constexpr int BC = Tile::kKeys, BR = Tile::kRows, NT = Tile::kThreads;
  __shared__ float sK[BC][DMAX + 1], sV[BC][DMAX + 1];
  __shared__ float sQ[BR][DMAX], sG[BR][DMAX];
  __shared__ float sP[BR][BC], sS[BR][BC];
  __shared__ float sLse[BR], sDelta[BR];

  BlockIdx3 blk;
  if (!g.unfold(blockIdx.x, blockIdx.y, blk)) return;  // tail of the folded grid (uniform)
  const int t = threadIdx.x, key0 = blk.x * BC, hk = blk.y, b = blk.z;
  const int d = p.head_dim, lq = p.len_q, lk = p.len_k, group = p.heads_q / p.heads_kv;
  const ContiguousKv kv{p.heads_kv, lk, d};
  const T* kp = static_cast<const T*>(p.k);
  const T* vp = static_cast<const T*>(p.v);
  const T* qp = static_cast<const T*>(p.q);
  const T* gp = static_cast<const T*>(p.d_o);

  for (int idx = t; idx < BC * DMAX; idx += NT) {
    const int j = idx / DMAX, c = idx % DMAX, key = key0 + j;
    const bool ok = key < lk && c < d;
    const size_t off = ok ? kv.row_offset(b, hk, key) + c : 0;
    sK[j][c] = ok ? to_float(kp[off]) : 0.0f;
    sV[j][c] = ok ? to_float(vp[off]) : 0.0f;
  }
  float acc_k[Tile::kAcc], acc_v[Tile::kAcc];
#pragma unroll
  for (int e = 0; e < Tile::kAcc; ++e) acc_k[e] = acc_v[e] = 0.0f;

  const KeyRange rows = queries_for_keys(p.mask, key0, min(key0 + BC, lk), lq, lk);
  for (int h = hk * group; h < (hk + 1) * group; ++h) {
    for (int r0 = rows.lo; r0 < rows.hi; r0 += BR) {
      __syncthreads();  // the previous tile's readers are done (K and V staged on the first pass)
      for (int idx = t; idx < BR * DMAX; idx += NT) {
        const int i = idx / DMAX, c = idx % DMAX, row = r0 + i;
        const bool ok = row < rows.hi && c < d;
        const size_t off = ok ? q_row_offset(b, h, row, p.heads_q, lq, d) + c : 0;
        sQ[i][c] = ok ? to_float(qp[off]) : 0.0f;
        sG[i][c] = ok ? to_float(gp[off]) : 0.0f;
      }
      if (t < BR) {
        const int row = r0 + t;
        const size_t r = (static_cast<size_t>(b) * p.heads_q + h) * lq + row;
        sLse[t] = row < rows.hi ? p.lse[r] : 0.0f;
        sDelta[t] = row < rows.hi ? p.delta[r] : 0.0f;
      }
      __syncthreads();
      // S = Q K^T and dP = dO V^T, then P and dS (bwd_p_ds), one (row, key) pair per step.
#pragma unroll
      for (int e = 0; e < Tile::kPairs; ++e) {
        const int idx = t + e * NT, i = idx / BC, j = idx % BC, row = r0 + i, key = key0 + j;
        float qk = 0.0f, gv = 0.0f;
#pragma unroll 16
        for (int c = 0; c < DMAX; ++c) {
          qk += sQ[i][c] * sK[j][c];
          gv += sG[i][c] * sV[j][c];
        }
        const bool vis = row < rows.hi && key < lk && p.mask.visible(row, key, lq, lk);
        const BwdPair pr = bwd_p_ds(qk, gv, p.logits, sLse[i], sDelta[i], vis);
        sP[i][j] = pr.p;
        sS[i][j] = pr.ds;
      }
      __syncthreads();
      // dV += P^T dO and dK += dS^T Q for this thread's (key, column) elements.
#pragma unroll 2
      for (int i = 0; i < BR; ++i) {
#pragma unroll
        for (int e = 0; e < Tile::kAcc; ++e) {
          const int idx = t + e * NT, j = idx / DMAX, c = idx % DMAX;
          acc_v[e] += sP[i][j] * sG[i][c];
          acc_k[e] += sS[i][j] * sQ[i][c];
        }
      }
      // dQ += scale dS K: every key block adds to these rows, hence the atomics.
#pragma unroll
      for (int e = 0; e < Tile::kDq; ++e) {
        const int idx = t + e * NT, i = idx / DMAX, c = idx % DMAX, row = r0 + i;
        if (row >= rows.hi || c >= d) continue;
        float s = 0.0f;
#pragma unroll 8
        for (int j = 0; j < BC; ++j) s += sS[i][j] * sK[j][c];
        atomicAdd(p.dq_acc + q_row_offset(b, h, row, p.heads_q, lq, d) + c, s * p.logits.scale);
      }
    }
  }
  T* dk = static_cast<T*>(p.d_k);
  T* dv = static_cast<T*>(p.d_v);
#pragma unroll
  for (int e = 0; e < Tile::kAcc; ++e) {
    const int idx = t + e * NT, j = idx / DMAX, c = idx % DMAX, key = key0 + j;
    if (key >= lk || c >= d) continue;
    const size_t off = kv.row_offset(b, hk, key) + c;
    dk[off] = from_float<T>(acc_k[e] * p.logits.scale);
    dv[off] = from_float<T>(acc_v[e]);
  }
}

/// Element offset of (b, h, i, j) in a [B, Hq, Lq, Lk] matrix.
__device__ __forceinline__ size_t bwd_matrix_offset(const BwdParams& p, int b, int h, int i, int j) {
  return ((static_cast<size_t>(b) * p.heads_q + h) * p.len_q + i) * p.len_k + j;
}

/// naive: P and dS, logical grid (ceil(Lk/16), ceil(Lq/16), B*Hq) folded by `g`, block
/// (16, 16): S = Q K^T and dP = dO V^T from staged 16 x 16 tiles, then bwd_p_ds.
template <class T>
__global__ void naive_bwd_scores_kernel(BwdParams p, GridFold g) {
  constexpr int N = kNaiveBwdTile;
  __shared__ float sq[N][N + 1], sg[N][N + 1], sk[N][N + 1], sv[N][N + 1];
  BlockIdx3 blk;
  if (!g.unfold(blockIdx.x, blockIdx.y, blk)) return;
  const int tx = threadIdx.x, ty = threadIdx.y, d = p.head_dim;
  const int b = blk.z / p.heads_q, h = blk.z % p.heads_q, hk = kv_head_of(h, p.heads_q, p.heads_kv);
  const int i = blk.y * N + ty, j = blk.x * N + tx, krow = blk.x * N + ty;
  const ContiguousKv kv{p.heads_kv, p.len_k, d};
  const T* q = static_cast<const T*>(p.q);
  const T* go = static_cast<const T*>(p.d_o);
  const T* k = static_cast<const T*>(p.k);
  const T* v = static_cast<const T*>(p.v);
  float qk = 0.0f, gv = 0.0f;
  for (int c0 = 0; c0 < d; c0 += N) {
    const int c = c0 + tx;
    const bool qok = i < p.len_q && c < d, kok = krow < p.len_k && c < d;
    const size_t qoff = qok ? q_row_offset(b, h, i, p.heads_q, p.len_q, d) + c : 0;
    const size_t koff = kok ? kv.row_offset(b, hk, krow) + c : 0;
    sq[ty][tx] = qok ? to_float(q[qoff]) : 0.0f;
    sg[ty][tx] = qok ? to_float(go[qoff]) : 0.0f;
    sk[ty][tx] = kok ? to_float(k[koff]) : 0.0f;
    sv[ty][tx] = kok ? to_float(v[koff]) : 0.0f;
    __syncthreads();
    for (int cc = 0; cc < N; ++cc) {
      qk += sq[ty][cc] * sk[tx][cc];
      gv += sg[ty][cc] * sv[tx][cc];
    }
    __syncthreads();
  }
  if (i >= p.len_q || j >= p.len_k) return;
  const size_t r = (static_cast<size_t>(b) * p.heads_q + h) * p.len_q + i;
  const BwdPair pr = bwd_p_ds(qk, gv, p.logits, p.lse[r], p.delta[r], p.mask.visible(i, j, p.len_q, p.len_k));
  const size_t off = bwd_matrix_offset(p, b, h, i, j);
  p.p[off] = pr.p;
  p.ds[off] = pr.ds;
}

/// naive: dQ = scale dS K, logical grid (ceil(d/16), ceil(Lq/16), B*Hq) folded by `g`,
/// block (16, 16).
template <class T>
__global__ void naive_bwd_dq_kernel(BwdParams p, GridFold g) {
  constexpr int N = kNaiveBwdTile;
  __shared__ float ss[N][N + 1], sk[N][N + 1];
  BlockIdx3 blk;
  if (!g.unfold(blockIdx.x, blockIdx.y, blk)) return;
  const int tx = threadIdx.x, ty = threadIdx.y, d = p.head_dim;
  const int b = blk.z / p.heads_q, h = blk.z % p.heads_q, hk = kv_head_of(h, p.heads_q, p.heads_kv);
  const int i = blk.y * N + ty, c = blk.x * N + tx;
  const ContiguousKv kv{p.heads_kv, p.len_k, d};
  const T* k = static_cast<const T*>(p.k);
  float acc = 0.0f;
  for (int j0 = 0; j0 < p.len_k; j0 += N) {
    const int js = j0 + tx, jk = j0 + ty;
    ss[ty][tx] = (i < p.len_q && js < p.len_k) ? p.ds[bwd_matrix_offset(p, b, h, i, js)] : 0.0f;
    sk[ty][tx] = (jk < p.len_k && c < d) ? to_float(k[kv.row_offset(b, hk, jk) + c]) : 0.0f;
    __syncthreads();
    for (int jj = 0; jj < N; ++jj) acc += ss[ty][jj] * sk[jj][tx];
    __syncthreads();
  }
  if (i < p.len_q && c < d)
    static_cast<T*>(p.d_q)[q_row_offset(b, h, i, p.heads_q, p.len_q, d) + c] = from_float<T>(acc * p.logits.scale);
}

/// naive: dK = scale dS^T Q and dV = P^T dO summed over the query heads of the group,
/// logical grid (ceil(d/16), ceil(Lk/16), B*Hkv) folded by `g`, block (16, 16): thread
/// (tx, ty) owns column tx of key ty of the tile.
template <class T>
__global__ void naive_bwd_dkv_kernel(BwdParams p, GridFold g) {
  constexpr int N = kNaiveBwdTile;
  __shared__ float ss[N][N + 1], sp[N][N + 1], sq[N][N + 1], sg[N][N + 1];
  BlockIdx3 blk;
  if (!g.unfold(blockIdx.x, blockIdx.y, blk)) return;
  const int tx = threadIdx.x, ty = threadIdx.y, d = p.head_dim;
  const int b = blk.z / p.heads_kv, hk = blk.z % p.heads_kv, group = p.heads_q / p.heads_kv;
  const int j = blk.y * N + ty, c = blk.x * N + tx, jl = blk.y * N + tx;  // jl: the key this thread stages
  const T* q = static_cast<const T*>(p.q);
  const T* go = static_cast<const T*>(p.d_o);
  float acc_k = 0.0f, acc_v = 0.0f;
  for (int h = hk * group; h < (hk + 1) * group; ++h)
    for (int i0 = 0; i0 < p.len_q; i0 += N) {
      const int i = i0 + ty;  // the query row this thread stages
      const bool mok = i < p.len_q && jl < p.len_k, qok = i < p.len_q && c < d;
      const size_t moff = mok ? bwd_matrix_offset(p, b, h, i, jl) : 0;
      const size_t qoff = qok ? q_row_offset(b, h, i, p.heads_q, p.len_q, d) + c : 0;
      ss[ty][tx] = mok ? p.ds[moff] : 0.0f;
      sp[ty][tx] = mok ? p.p[moff] : 0.0f;
      sq[ty][tx] = qok ? to_float(q[qoff]) : 0.0f;
      sg[ty][tx] = qok ? to_float(go[qoff]) : 0.0f;
      __syncthreads();
      for (int ii = 0; ii < N; ++ii) {
        acc_k += ss[ii][ty] * sq[ii][tx];
        acc_v += sp[ii][ty] * sg[ii][tx];
      }
      __syncthreads();
    }
  if (j >= p.len_k || c >= d) return;
  const size_t off = ContiguousKv{p.heads_kv, p.len_k, d}.row_offset(b, hk, j) + c;
  static_cast<T*>(p.d_k)[off] = from_float<T>(acc_k * p.logits.scale);
  static_cast<T*>(p.d_v)[off] = from_float<T>(acc_v);
}

}  // namespace attnbench::gpu

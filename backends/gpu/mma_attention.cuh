// Tensor-core flash attention for bf16/fp16 on NVIDIA sm_80+ (mma.sync m16n8k16,
// fp32 accumulation), FlashAttention-2 style: each warp owns 16 query rows and keeps
// S = Q K^T and O in registers; P is reused from the S accumulators as the A operand of
// O += P V without a trip through shared memory. Fragment layouts are the documented
// PTX ones (row = lane / 4 [+8], column pair = 2 * (lane % 4) [+8]), computed by
// mma_fragment.h (checked against the ISA tables on the CPU). CUDA only.
#pragma once

#include "gpu_compat.h"
#include "kernel_math.h"
#include "kv_addressing.h"
#include "launch_plan.h"
#include "mma_fragment.h"
#include "simt_attention.cuh"

#if defined(AB_GPU_CUDA)
#include <type_traits>

namespace attnbench::gpu {

/// D += A * B on one m16n8k16 tile (A row-major 16x16, B column-major 16x8).
template <class T>
__device__ __forceinline__ void mma_16816(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (std::is_same_v<T, Bf16>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
#else
  __trap();  // the host never launches this path below sm_80
#endif
}

/// Two fp32 values as a packed pair of 16-bit storage values (low half = first).
template <class T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  return static_cast<uint32_t>(from_float<T>(lo).bits) |
         (static_cast<uint32_t>(from_float<T>(hi).bits) << 16);
}

/// Logical grid (ceil(len_q / 64), heads_q, batch) folded by `grid` (GridFold), block = 128
/// threads; head_dim == D.
template <class T, int D>
__global__ void __launch_bounds__(kMmaWarps * 32) mma_flash_kernel(SimtParams p, GridFold grid) {
  static_assert(D % 16 == 0, "head_dim must be a multiple of 16");
  constexpr int kPadK = D + 8, kPadV = kMmaBlockN + 8;  // pads make fragment reads conflict-free
  __shared__ __align__(16) uint16_t sK[kMmaBlockN][kPadK];
  __shared__ __align__(16) uint16_t sVt[D][kPadV];  // V transposed: B operand pairs are contiguous

  BlockIdx3 blk;
  if (!grid.unfold(blockIdx.x, blockIdx.y, blk)) return;  // tail of the folded grid (uniform)
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int h = blk.y, b = blk.z;
  const int lq = p.seq_len_q ? p.seq_len_q[b] : p.len_q;
  const int lk = p.seq_len_k ? p.seq_len_k[b] : p.len_k;
  const int row0 = blk.x * kMmaBlockM;
  if (row0 >= lq) return;
  const int hk = kv_head_of(h, p.heads_q, p.heads_kv);
  const ContiguousKv kv{p.heads_kv, p.len_k, D};
  const KeyRange span = tile_key_range(p.mask, row0, row0 + kMmaBlockM, lq, lk);

  // This lane's two rows (groupID and groupID + 8 of the warp's 16: accumulator pairs
  // c0,c1 and c2,c3) and their visible keys.
  const int rows[2] = {mma_tile_row(row0, warp, lane, 0), mma_tile_row(row0, warp, lane, 1)};
  KeyRange vis[2];
  OnlineSoftmax st[2];
  for (int r = 0; r < 2; ++r) {
    vis[r] = rows[r] < lq ? p.mask.keys_for(rows[r], lq, lk) : KeyRange{0, 0};
    st[r] = OnlineSoftmax::start();
  }

  // Q as A fragments, straight from global memory (read once per block).
  const uint32_t* q32 = static_cast<const uint32_t*>(p.q);
  uint32_t qf[D / 16][4];
  for (int kc = 0; kc < D / 16; ++kc)
    for (int reg = 0; reg < 4; ++reg) {
      const FragCoord a = mma_a_pair(lane, reg);  // its row is rows[reg & 1]
      const int row = row0 + warp * kMmaM + a.row;
      const size_t off = q_row_offset(b, h, row, p.heads_q, p.len_q, D) + kc * kMmaK + a.col;
      qf[kc][reg] = row < lq ? q32[off / 2] : 0u;
    }

  float o[D / 8][4];
  for (int dt = 0; dt < D / 8; ++dt)
    for (int e = 0; e < 4; ++e) o[dt][e] = 0.0f;

  const uint4* k16 = static_cast<const uint4*>(p.k);
  const uint4* v16 = static_cast<const uint4*>(p.v);
  const TileSpan tiles = key_tiles(span, kMmaBlockN);
  for (int t = tiles.first; t < tiles.end; ++t) {
    const int key0 = t * kMmaBlockN;
    __syncthreads();
    for (int idx = threadIdx.x; idx < kMmaBlockN * D / 8; idx += blockDim.x) {
      const int j = idx / (D / 8), c8 = (idx - j * (D / 8)) * 8, key = key0 + j;
      const bool ok = key >= span.lo && key < span.hi;
      const size_t off = ok ? kv.row_offset(b, hk, key) + c8 : 0;
      const uint4 kk = ok ? k16[off / 8] : make_uint4(0, 0, 0, 0);
      const uint4 vv = ok ? v16[off / 8] : make_uint4(0, 0, 0, 0);
      *reinterpret_cast<uint4*>(&sK[j][c8]) = kk;
      const uint32_t w[4] = {vv.x, vv.y, vv.z, vv.w};
      for (int e = 0; e < 4; ++e) {
        sVt[c8 + 2 * e][j] = static_cast<uint16_t>(w[e] & 0xffffu);
        sVt[c8 + 2 * e + 1][j] = static_cast<uint16_t>(w[e] >> 16);
      }
    }
    __syncthreads();

    // S = Q K^T for this warp's 16 rows x 64 keys (8 n-tiles of 8 keys).
    float s[kMmaBlockN / 8][4];
    // B = K^T: B(k, n) is sK[key n][dim k].
    const FragCoord kb0 = mma_b_pair(lane, 0), kb1 = mma_b_pair(lane, 1);
    for (int nt = 0; nt < kMmaBlockN / 8; ++nt) {
      for (int e = 0; e < 4; ++e) s[nt][e] = 0.0f;
      for (int kc = 0; kc < D / 16; ++kc) {
        const uint32_t b0 = *reinterpret_cast<const uint32_t*>(&sK[nt * kMmaN + kb0.col][kc * kMmaK + kb0.row]);
        const uint32_t b1 = *reinterpret_cast<const uint32_t*>(&sK[nt * kMmaN + kb1.col][kc * kMmaK + kb1.row]);
        mma_16816<T>(s[nt], qf[kc], b0, b1);
      }
    }

    // Mask, logits and the online softmax; a row's 64 values sit in one lane quad.
    float mx[2] = {neg_inf(), neg_inf()};
    for (int nt = 0; nt < kMmaBlockN / 8; ++nt)
      for (int e = 0; e < 4; ++e) {
        const int r = e >> 1, key = key0 + nt * kMmaN + mma_c_coord(lane, e).col;  // row: rows[r]
        const bool visible = key >= vis[r].lo && key < vis[r].hi;
        s[nt][e] = visible ? apply_logits(p.logits, s[nt][e]) : neg_inf();
        mx[r] = fmaxf(mx[r], s[nt][e]);
      }
    float alpha[2], mass[2] = {0.0f, 0.0f};
    for (int r = 0; r < 2; ++r) {
      mx[r] = fmaxf(mx[r], shfl_xor(mx[r], 1));
      mx[r] = fmaxf(mx[r], shfl_xor(mx[r], 2));
      alpha[r] = st[r].rescale(mx[r]);
    }
    for (int nt = 0; nt < kMmaBlockN / 8; ++nt)
      for (int e = 0; e < 4; ++e) {
        s[nt][e] = st[e >> 1].prob(s[nt][e]);
        mass[e >> 1] += s[nt][e];
      }
    for (int r = 0; r < 2; ++r) {
      mass[r] += shfl_xor(mass[r], 1);
      mass[r] += shfl_xor(mass[r], 2);
      st[r].add(mass[r]);
    }
    for (int dt = 0; dt < D / 8; ++dt)
      for (int e = 0; e < 4; ++e) o[dt][e] *= alpha[e >> 1];

    // O += P V: the S accumulators of n-tiles 2k and 2k+1 form the A fragment of k-chunk k.
    for (int kc = 0; kc < kMmaBlockN / 16; ++kc) {
      uint32_t pa[4];
      for (int reg = 0; reg < 4; ++reg) {
        const int lo = 2 * reg, hi = 2 * reg + 1;  // the A elements this register packs
        pa[reg] = pack2<T>(s[mma_p_source_tile(kc, lo)][mma_p_source_elem(lo)],
                           s[mma_p_source_tile(kc, hi)][mma_p_source_elem(hi)]);
      }
      // B = V: B(k, n) is sVt[dim n][key k].
      const FragCoord vb0 = mma_b_pair(lane, 0), vb1 = mma_b_pair(lane, 1);
      for (int dt = 0; dt < D / 8; ++dt) {
        const uint32_t b0 = *reinterpret_cast<const uint32_t*>(&sVt[dt * kMmaN + vb0.col][kc * kMmaK + vb0.row]);
        const uint32_t b1 = *reinterpret_cast<const uint32_t*>(&sVt[dt * kMmaN + vb1.col][kc * kMmaK + vb1.row]);
        mma_16816<T>(o[dt], pa, b0, b1);
      }
    }
  }

  uint32_t* o32 = static_cast<uint32_t*>(p.o);
  for (int r = 0; r < 2; ++r) {
    if (rows[r] >= lq) continue;
    const float inv = st[r].inv_sum();
    const size_t base = q_row_offset(b, h, rows[r], p.heads_q, p.len_q, D);
    const int col = mma_c_pair(lane, r).col;
    for (int dt = 0; dt < D / 8; ++dt)
      o32[(base + dt * kMmaN + col) / 2] = pack2<T>(o[dt][2 * r] * inv, o[dt][2 * r + 1] * inv);
  }
}

}  // namespace attnbench::gpu
#endif  // AB_GPU_CUDA

// Tensor-core flash attention for bf16/fp16 on NVIDIA sm_80+ (mma.sync m16n8k16, fp32
// accumulation), FlashAttention-2 style: a block of kMmaWarps (8) warps owns kMmaBlockM
// (128) query rows, each warp 16 of them, and walks 64-key tiles. Each warp keeps S = Q K^T
// and O in registers; P is reused from the S accumulators as the A operand of O += P V
// without a trip through shared memory.
//
// Data movement: Q, K and V tiles reach dynamic shared memory by 16-byte cp.async.cg
// (keys outside the block's key span and query rows past the sequence are zero-filled
// with src-size 0, so NaN padding never enters), K and V double-buffered so the copy of
// tile t + 1 overlaps the math of tile t. Shared rows keep the global row-major layout
// (V is not transposed) with 16-byte chunks XOR-swizzled by row (mma_smem.h), and every
// operand fragment comes from ldmatrix.x4 (.trans for V), conflict-free.
//
// Softmax in base 2: logits are scaled by scale * log2(e) in one multiply (softcap, when
// set, acts on the natural scaled logit first, as LogitsHook defines) and exponentiated
// by ex2.approx. Only tiles that cross a row's mask boundary (tile_fully_visible) pay for
// the per-element mask. P is packed to bf16x2 / f16x2 by the hardware conversion.
//
// Every index (fragment ownership, ldmatrix lane addresses, swizzle, copy chunks, mask
// test) comes from the host/device headers that tests/test_gpu_shared_logic.cpp checks
// against the PTX ISA tables and brute force on the CPU. CUDA only.
#pragma once

#include "gpu_compat.h"
#include "kernel_math.h"
#include "kv_addressing.h"
#include "launch_plan.h"
#include "mma_fragment.h"
#include "mma_smem.h"
#include "simt_attention.cuh"

#if defined(AB_GPU_CUDA)
#include <cuda_bf16.h>
#include <type_traits>

namespace attnbench::gpu {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define AB_MMA_DEVICE 1  // the instructions below exist (sm_80+); the host never launches below
#endif

/// D += A * B on one m16n8k16 tile (A row-major 16x16, B column-major 16x8).
template <class T>
__device__ __forceinline__ void mma_16816(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
#if defined(AB_MMA_DEVICE)
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
  __trap();
#endif
}

/// Two fp32 values as a packed pair of 16-bit values (low half = lo), by the paired
/// hardware conversion (cvt.rn.bf16x2.f32 / cvt.rn.f16x2.f32, round to nearest even).
template <class T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  if constexpr (std::is_same_v<T, Bf16>) {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&v);
  } else {
    const __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&v);
  }
}

/// Shared-state-space address of a pointer into shared memory (for cp.async and ldmatrix).
__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

/// 16-byte asynchronous copy global -> shared (cp.async.cg: L2 only). With fill false the
/// source size is 0: nothing is read and the 16 bytes are zero-filled.
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, bool fill) {
#if defined(AB_MMA_DEVICE)
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(fill ? 16 : 0)
               : "memory");
#else
  __trap();
#endif
}

/// Closes the group of this thread's cp.async copies issued since the last commit.
__device__ __forceinline__ void cp_async_commit() {
#if defined(AB_MMA_DEVICE)
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

/// Waits until at most N of this thread's committed groups are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if defined(AB_MMA_DEVICE)
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

/// ldmatrix.x4 (trans: .trans) of four 8x8 16-bit matrices; `addr` is this lane's row
/// address (mma_fragment.h: ldsm_*_src).
template <bool kTrans>
__device__ __forceinline__ void ldsm_x4(uint32_t* r, uint32_t addr) {
#if defined(AB_MMA_DEVICE)
  if constexpr (kTrans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr)
                 : "memory");
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr)
                 : "memory");
#else
  __trap();
#endif
}

/// Issues the cp.async copies of a Rows x D tile into swizzled shared memory at `dst`:
/// row r comes from row_ptr(r), or is zero-filled where row_ptr returns null (`any` is a
/// valid global address handed to the zero-filling copies, which read nothing).
template <int D, int Rows, class RowPtr>
__device__ __forceinline__ void copy_tile_async(uint16_t* dst, RowPtr row_ptr, const uint16_t* any) {
  static_assert(Rows * D / kChunkElems % kMmaThreads == 0, "whole copy rounds per thread");
#pragma unroll
  for (int i = 0; i < Rows * D / kChunkElems / kMmaThreads; ++i) {
    const FragCoord c = copy_chunk(static_cast<int>(threadIdx.x) + i * kMmaThreads, D);
    const uint16_t* src = row_ptr(c.row);
    cp_async_16(smem_addr(dst + swizzled_offset(c.row, c.col, D)), src ? src + c.col : any, src != nullptr);
  }
}

/// Turns this lane's S accumulators of the tile at key0 into base-2 logits
/// (logit_log2) and their per-row maxima (this lane's part: mx[0] row rows[0], mx[1]
/// rows[1]). kMasked: keys outside the row's visible range `vis` become -inf.
template <bool kMasked>
__device__ __forceinline__ void tile_logits(float (&s)[kMmaBlockN / kMmaN][kMmaCElems], const LogitsHook& h,
                                            float scale_log2, int lane, int key0, const KeyRange* vis,
                                            float* mx) {
#pragma unroll
  for (int nt = 0; nt < kMmaBlockN / kMmaN; ++nt)
#pragma unroll
    for (int e = 0; e < kMmaCElems; ++e) {
      const int r = e >> 1;
      float x = logit_log2(h, scale_log2, s[nt][e]);
      if (kMasked) {
        const int key = key0 + nt * kMmaN + mma_c_coord(lane, e).col;
        if (key < vis[r].lo || key >= vis[r].hi) x = neg_inf();
      }
      s[nt][e] = x;
      mx[r] = fmaxf(mx[r], x);
    }
}

/// Logical grid (ceil(len_q / kMmaBlockM), heads_q, batch) folded by `grid` (GridFold),
/// block = kMmaThreads, dynamic shared memory MmaSmem{D}.bytes(); head_dim == D.
template <class T, int D>
__global__ void __launch_bounds__(kMmaThreads, 1) mma_flash_kernel(SimtParams p, GridFold grid) {
  static_assert(D % 64 == 0, "the shared-memory swizzle needs head_dim a multiple of 64");
  extern __shared__ __align__(128) uint16_t smem[];
  const MmaSmem sm{D};

  BlockIdx3 blk;
  if (!grid.unfold(blockIdx.x, blockIdx.y, blk)) return;  // tail of the folded grid (uniform)
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int h = blk.y, b = blk.z;
  const int lq = p.seq_len_q ? p.seq_len_q[b] : p.len_q;
  const int lk = p.seq_len_k ? p.seq_len_k[b] : p.len_k;
  const int row0 = heavy_first_tile(blk.x, grid.nx) * kMmaBlockM;
  if (row0 >= lq) return;  // uniform per block: padded rows of a short sequence
  const int hk = kv_head_of(h, p.heads_q, p.heads_kv);
  const ContiguousKv kv{p.heads_kv, p.len_k, D};
  const KeyRange span = tile_key_range(p.mask, row0, row0 + kMmaBlockM, lq, lk);
  const int warp_row0 = row0 + warp * kMmaM;

  // This lane's two rows (groupID and groupID + 8 of the warp's 16: accumulator pairs
  // c0,c1 and c2,c3) and their visible keys.
  const int rows[2] = {mma_tile_row(row0, warp, lane, 0), mma_tile_row(row0, warp, lane, 1)};
  KeyRange vis[2];
  OnlineSoftmax2 st[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    vis[r] = rows[r] < lq ? p.mask.keys_for(rows[r], lq, lk) : KeyRange{0, 0};
    st[r] = OnlineSoftmax2::start();
  }
  const float scale_log2 = p.logits.scale * kLog2e;
  const LogitsHook no_cap{p.logits.scale, 0.0f};  // a literal 0 cap: the tanh path compiles away

  // Group 0: the block's Q tile (rows past lq zero-filled) and the first K/V tile.
  const uint16_t* q16 = static_cast<const uint16_t*>(p.q);
  const uint16_t* k16 = static_cast<const uint16_t*>(p.k);
  const uint16_t* v16 = static_cast<const uint16_t*>(p.v);
  copy_tile_async<D, kMmaBlockM>(
      smem + sm.q(),
      [&](int r) -> const uint16_t* {
        const int row = row0 + r;
        return row < lq ? q16 + q_row_offset(b, h, row, p.heads_q, p.len_q, D) : nullptr;
      },
      q16);
  // Keys outside the span are zero-filled: no row sees them, and past seq_len_k they may
  // be NaN padding that must not reach O (0 * NaN).
  auto load_kv = [&](int t, int stage) {
    const int key0 = t * kMmaBlockN;
    auto row_of = [&](const uint16_t* base) {
      return [=](int r) -> const uint16_t* {
        const int key = key0 + r;
        return key >= span.lo && key < span.hi ? base + kv.row_offset(b, hk, key) : nullptr;
      };
    };
    copy_tile_async<D, kMmaBlockN>(smem + sm.k(stage), row_of(k16), k16);
    copy_tile_async<D, kMmaBlockN>(smem + sm.v(stage), row_of(v16), v16);
  };
  const TileSpan tiles = key_tiles(span, kMmaBlockN);
  if (tiles.first < tiles.end) load_kv(tiles.first, 0);
  cp_async_commit();

  float o[D / kMmaN][kMmaCElems];
#pragma unroll
  for (int dt = 0; dt < D / kMmaN; ++dt)
#pragma unroll
    for (int e = 0; e < kMmaCElems; ++e) o[dt][e] = 0.0f;

  const uint32_t q_base = smem_addr(smem + sm.q());
  for (int t = tiles.first; t < tiles.end; ++t) {
    const int stage = (t - tiles.first) & 1, key0 = t * kMmaBlockN;
    // Prefetch tile t + 1 into the other stage (an empty group on the last tile keeps the
    // wait count uniform), then wait for everything but that group: Q and tile t.
    if (t + 1 < tiles.end) load_kv(t + 1, stage ^ 1);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();  // every thread's copies of tile t are visible

    // S = Q K^T for this warp's 16 rows x 64 keys: per 16-dim chunk one ldmatrix of Q (A)
    // and per 16 keys one ldmatrix of K (B of two n-tiles).
    const uint32_t k_base = smem_addr(smem + sm.k(stage));
    float s[kMmaBlockN / kMmaN][kMmaCElems];
#pragma unroll
    for (int nt = 0; nt < kMmaBlockN / kMmaN; ++nt)
#pragma unroll
      for (int e = 0; e < kMmaCElems; ++e) s[nt][e] = 0.0f;
#pragma unroll
    for (int kc = 0; kc < D / kMmaK; ++kc) {
      uint32_t qa[4];
      ldsm_x4<false>(qa, q_base + 2 * ldsm_q_offset(warp, kc, lane, D));
#pragma unroll
      for (int np = 0; np < kMmaBlockN / 16; ++np) {
        uint32_t kb[4];
        ldsm_x4<false>(kb, k_base + 2 * ldsm_k_offset(np, kc, lane, D));
        mma_16816<T>(s[2 * np], qa, kb[0], kb[1]);
        mma_16816<T>(s[2 * np + 1], qa, kb[2], kb[3]);
      }
    }

    // Logits (masked only on tiles that cross this warp's rows' mask boundaries) and the
    // online softmax; a row's 64 values sit in one lane quad.
    float mx[2] = {neg_inf(), neg_inf()};
    const bool inside = tile_fully_visible(p.mask, warp_row0, warp_row0 + kMmaM, lq, lk, key0, key0 + kMmaBlockN);
    const bool cap = p.logits.softcap > 0.0f;
    if (inside && !cap)
      tile_logits<false>(s, no_cap, scale_log2, lane, key0, vis, mx);
    else if (inside)
      tile_logits<false>(s, p.logits, scale_log2, lane, key0, vis, mx);
    else if (!cap)
      tile_logits<true>(s, no_cap, scale_log2, lane, key0, vis, mx);
    else
      tile_logits<true>(s, p.logits, scale_log2, lane, key0, vis, mx);
    float alpha[2], mass[2] = {0.0f, 0.0f};
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mx[r] = fmaxf(mx[r], shfl_xor(mx[r], 1));
      mx[r] = fmaxf(mx[r], shfl_xor(mx[r], 2));
      alpha[r] = st[r].rescale(mx[r]);
    }
#pragma unroll
    for (int nt = 0; nt < kMmaBlockN / kMmaN; ++nt)
#pragma unroll
      for (int e = 0; e < kMmaCElems; ++e) {
        s[nt][e] = st[e >> 1].prob(s[nt][e]);
        mass[e >> 1] += s[nt][e];
      }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mass[r] += shfl_xor(mass[r], 1);
      mass[r] += shfl_xor(mass[r], 2);
      st[r].add(mass[r]);
    }
#pragma unroll
    for (int dt = 0; dt < D / kMmaN; ++dt)
#pragma unroll
      for (int e = 0; e < kMmaCElems; ++e) o[dt][e] *= alpha[e >> 1];

    // O += P V: the S accumulators of n-tiles 2k and 2k+1 form the A fragment of k-chunk
    // k; V (row-major [key][dim]) arrives as B through ldmatrix.trans, two dim tiles each.
    const uint32_t v_base = smem_addr(smem + sm.v(stage));
#pragma unroll
    for (int kc = 0; kc < kMmaBlockN / kMmaK; ++kc) {
      uint32_t pa[4];
#pragma unroll
      for (int reg = 0; reg < 4; ++reg) {
        const int lo = 2 * reg, hi = 2 * reg + 1;  // the A elements this register packs
        pa[reg] = pack2<T>(s[mma_p_source_tile(kc, lo)][mma_p_source_elem(lo)],
                           s[mma_p_source_tile(kc, hi)][mma_p_source_elem(hi)]);
      }
#pragma unroll
      for (int dp = 0; dp < D / 16; ++dp) {
        uint32_t vb[4];
        ldsm_x4<true>(vb, v_base + 2 * ldsm_v_offset(kc, dp, lane, D));
        mma_16816<T>(o[2 * dp], pa, vb[0], vb[1]);
        mma_16816<T>(o[2 * dp + 1], pa, vb[2], vb[3]);
      }
    }
    __syncthreads();  // all warps are done with this stage before iteration t + 1 refills it
  }
  cp_async_wait<0>();  // no copy may still be in flight when the block exits

  uint32_t* o32 = static_cast<uint32_t*>(p.o);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    if (rows[r] >= lq) continue;
    const float inv = st[r].inv_sum();
    const size_t base = q_row_offset(b, h, rows[r], p.heads_q, p.len_q, D);
    const int col = mma_c_pair(lane, r).col;
#pragma unroll
    for (int dt = 0; dt < D / kMmaN; ++dt)
      o32[(base + dt * kMmaN + col) / 2] = pack2<T>(o[dt][2 * r] * inv, o[dt][2 * r + 1] * inv);
  }
}

}  // namespace attnbench::gpu
#endif  // AB_GPU_CUDA

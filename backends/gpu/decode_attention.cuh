// Dedicated decode kernel (CUDA and HIP, warp width 32 or 64), built to stream K/V at
// close to DRAM bandwidth: a block owns (query-row tile, KV head, batch, split), i.e.
// every query head of a GQA group and every query row of the sequence as up to
// kDecodeRows rows, and reads its split's K/V once. Per tile of kDecodeKeys keys the
// block looks each key's row up once (block table included) into shared memory, then
// loads whole rows with 16-byte vectors, coalesced, the next tile's loads in flight in
// registers while the current tile is computed from shared memory. fp32 math, the
// online softmax of kernel_math.h, partials merged by lse_merge_kernel. The index math
// is decode_tiles.h (replayed on the CPU by tests). Device TU only (C++17).
#pragma once

#include "decode_tiles.h"
#include "simt_attention.cuh"

namespace attnbench::gpu {

/// The floats held by one 32-bit word of storage type T (little-endian: element 0 in
/// the low half).
template <class T>
__device__ __forceinline__ void word_to_floats(uint32_t w, float* out);
template <>
__device__ __forceinline__ void word_to_floats<float>(uint32_t w, float* out) {
  out[0] = __uint_as_float(w);
}
template <>
__device__ __forceinline__ void word_to_floats<Bf16>(uint32_t w, float* out) {
  out[0] = __uint_as_float(w << 16);
  out[1] = __uint_as_float(w & 0xffff0000u);
}
template <>
__device__ __forceinline__ void word_to_floats<F16>(uint32_t w, float* out) {
  out[0] = to_float(F16{static_cast<uint16_t>(w & 0xffffu)});
  out[1] = to_float(F16{static_cast<uint16_t>(w >> 16)});
}

/// Logical grid (row tiles * num_splits, heads_q / pack, batch) folded by `g`, block =
/// kDecodeWarps * warp width threads. Requires head_dim * sizeof(T) to be a multiple of
/// 16 bytes and 16-byte aligned K/V (use_decode_kernel); DMAX >= head_dim. The launch
/// bounds ask for 1 block per SM at least: without it ptxas held fp32 d=128 to 168
/// registers and spilled (with it: 170-172 registers, no spills; bf16 d=128: 128).
template <class T, int DMAX, class Kv>
__global__ void __launch_bounds__(kDecodeWarps * kWarpSize, 1)
decode_attention_kernel(SimtParams p, Kv kv, GridFold g) {
  constexpr int kThreads = kDecodeWarps * kWarpSize;
  constexpr int kElem = static_cast<int>(sizeof(T));
  constexpr int kVmax = DMAX * kElem / kDecodeVecBytes;  // vectors per row at DMAX
  constexpr int kPerVec = kDecodeVecBytes / kElem;       // elements per vector
  constexpr int kPerWord = 4 / kElem;
  constexpr int kPerUnit = kDecodeUnitBytes / kElem;     // columns per P V unit
  constexpr int kLaneUnits = (DMAX * kElem / kDecodeUnitBytes + kWarpSize - 1) / kWarpSize;
  constexpr int kSlots = decode_slots(kVmax, kThreads);
  constexpr int kParts = kWarpSize / 32;  // lanes sharing one key's dot product
  constexpr int kR = kDecodeRowsPerWarp;
  // K rows padded by one vector: in QK lane j reads row j, and a stride of kVmax + 1
  // vectors puts 8 consecutive lanes' 16-byte reads in distinct banks.
  __shared__ uint4 sK[kDecodeKeys][kVmax + 1];
  __shared__ uint4 sV[kDecodeKeys][kVmax];
  __shared__ __align__(16) float sQ[kDecodeRows][DMAX];
  __shared__ long long sRow[2][kDecodeKeys];  // per-key row offsets, tiles t and t + 1

  BlockIdx3 blk;
  if (!g.unfold(blockIdx.x, blockIdx.y, blk)) return;  // tail of the folded grid (uniform)
  const int tid = threadIdx.x, lane = tid % kWarpSize, warp = tid / kWarpSize;
  const int key_lane = lane & 31, part = lane >> 5;
  const int ns = p.plan.num_splits;
  const int split = blk.x % ns, tq = blk.x / ns, hb = blk.y, b = blk.z;
  const int lq = p.seq_len_q ? p.seq_len_q[b] : p.len_q;
  const int lk = p.seq_len_k ? p.seq_len_k[b] : p.len_k;
  const RowMap map{p.pack, lq};
  const int row0 = tq * kDecodeRows;
  if (row0 >= map.rows()) return;  // uniform per block: padded rows of a short sequence
  const int d = p.head_dim, hk = kv_head_of(map.head(hb, row0), p.heads_q, p.heads_kv);
  const int vpr = decode_vectors_per_row(d, kElem), units = decode_units(d, kElem);
  const int block_rows = min(kDecodeRows, map.rows() - row0);
  const int nr = decode_warp_rows(warp, block_rows);  // warp-uniform

  const KeyRange keys = decode_block_keys(p.mask, map, row0, p.plan, split, lk);
  const int lo = keys.lo, hi = keys.hi;

  stage_q_rows<T>(p, map, b, hb, row0, sQ, tid, kThreads);  // once per block

  float acc[kR][kLaneUnits * kPerUnit];
  OnlineSoftmax st[kR];
#pragma unroll
  for (int r = 0; r < kR; ++r) {
    st[r] = OnlineSoftmax::start();
#pragma unroll
    for (int e = 0; e < kLaneUnits * kPerUnit; ++e) acc[r][e] = 0.0f;
  }
  // Keys row slot r sees inside the block's range. Recomputed per tile from the kernel
  // parameters (constant memory) rather than held: registers are what limits this kernel.
  auto visible_keys = [&](int r) {
    const KeyRange v = p.mask.keys_for(map.query(row0 + decode_block_row(warp, r)), lq, lk);
    return KeyRange{max(v.lo, lo), min(v.hi, hi)};
  };

  // This thread's load slots: the same (key, vector) in every tile, so no division per
  // tile; packed key * 256 + vector (a row has at most 32 vectors) in one register per slot.
  int slot[kSlots];
#pragma unroll
  for (int i = 0; i < kSlots; ++i) {
    const DecodeSlot s = decode_slot(tid, i, kThreads, vpr);
    slot[i] = s.key < 0 ? -1 : s.key * 256 + s.vec;
  }
  const T* kp = static_cast<const T*>(p.k);
  const T* vp = static_cast<const T*>(p.v);
  uint4 rk[kSlots], rv[kSlots];

  // One block-table lookup per key of tile t into sRow[buf].
  auto lookup = [&](int t, int buf) {
    if (tid < kDecodeKeys) sRow[buf][tid] = decode_row_of(kv, b, hk, t * kDecodeKeys + tid, lo, hi);
  };
  // Issues the 16-byte loads of the tile whose rows are in sRow[buf]; keys outside
  // [lo, hi) are zeros and never touch memory.
  auto issue = [&](int buf) {
#pragma unroll
    for (int i = 0; i < kSlots; ++i) {
      rk[i] = rv[i] = make_uint4(0u, 0u, 0u, 0u);
      if (slot[i] < 0) continue;
      const long long row = sRow[buf][slot[i] >> 8];
      if (row == kDecodeNoRow) continue;
      const size_t off = decode_vec_offset(row, slot[i] & 255, kElem);
      rk[i] = *reinterpret_cast<const uint4*>(kp + off);
      rv[i] = *reinterpret_cast<const uint4*>(vp + off);
    }
  };
  auto store = [&]() {
#pragma unroll
    for (int i = 0; i < kSlots; ++i)
      if (slot[i] >= 0) {
        sK[slot[i] >> 8][slot[i] & 255] = rk[i];
        sV[slot[i] >> 8][slot[i] & 255] = rv[i];
      }
  };

  // Computes tile `key0` from sK/sV for this warp's rows: QK with one key per lane
  // (each 32-lane group; a wave64's two halves split the vectors), the online softmax,
  // then P V with lane-owned 8-byte column units.
  auto compute = [&](int key0) {
    float dot[kR], prob[kR];
#pragma unroll
    for (int r = 0; r < kR; ++r) dot[r] = prob[r] = 0.0f;
    // Loops below test bounds in their bodies instead of breaking out: hipcc cannot
    // unroll a loop with an early exit, and rolled loops put these arrays in scratch.
#pragma unroll 4  // full unrolling hoists every sK/sQ load of the tile: register spills
    for (int v = part; v < vpr; v += kParts) {
      const uint4 kw = sK[key_lane][v];
      float kf[kPerVec];
      word_to_floats<T>(kw.x, kf);
      word_to_floats<T>(kw.y, kf + kPerWord);
      word_to_floats<T>(kw.z, kf + 2 * kPerWord);
      word_to_floats<T>(kw.w, kf + 3 * kPerWord);
#pragma unroll
      for (int r = 0; r < kR; ++r) {
        if (r < nr) {
          const float4* qv = reinterpret_cast<const float4*>(&sQ[decode_block_row(warp, r)][v * kPerVec]);
#pragma unroll
          for (int e4 = 0; e4 < kPerVec / 4; ++e4) {
            const float4 q4 = qv[e4];
            dot[r] += q4.x * kf[4 * e4] + q4.y * kf[4 * e4 + 1] + q4.z * kf[4 * e4 + 2] + q4.w * kf[4 * e4 + 3];
          }
        }
      }
    }
    bool any = false;
#pragma unroll
    for (int r = 0; r < kR; ++r) {
      const KeyRange vis = r < nr ? visible_keys(r) : KeyRange{0, 0};
      if (vis.hi <= key0 || vis.lo >= key0 + kDecodeKeys) continue;  // warp-uniform
      if constexpr (kParts == 2) dot[r] += shfl_xor(dot[r], 32);
      const int key = key0 + key_lane;
      const bool visible = key >= vis.lo && key < vis.hi;
      const float logit = visible ? apply_logits(p.logits, dot[r]) : neg_inf();
      const float alpha = st[r].rescale(group_max(logit));
      prob[r] = st[r].prob(logit);
      st[r].add(group_sum(prob[r]));  // each 32-lane group holds every key of the tile once
#pragma unroll
      for (int e = 0; e < kLaneUnits * kPerUnit; ++e) acc[r][e] *= alpha;
      any = true;
    }
    if (!any) return;  // warp-uniform: no row of this warp sees the tile
#pragma unroll 4
    for (int j = 0; j < kDecodeKeys; ++j) {
      float pj[kR];
      bool live = false;
#pragma unroll
      for (int r = 0; r < kR; ++r) {
        pj[r] = r < nr ? shfl(prob[r], j) : 0.0f;
        live = live || pj[r] != 0.0f;
      }
      if (!live) continue;  // uniform: every lane got the same pj
      const uint2* vrow = reinterpret_cast<const uint2*>(&sV[j][0]);
#pragma unroll
      for (int uu = 0; uu < kLaneUnits; ++uu) {
        const int u = lane + uu * kWarpSize;
        if (u < units) {
          const uint2 w = vrow[u];
          float vf[kPerUnit];
          word_to_floats<T>(w.x, vf);
          word_to_floats<T>(w.y, vf + kPerWord);
#pragma unroll
          for (int r = 0; r < kR; ++r)
            if (r < nr) {
#pragma unroll
              for (int e = 0; e < kPerUnit; ++e) acc[r][uu * kPerUnit + e] += pj[r] * vf[e];
            }
        }
      }
    }
  };

  // Pipeline: tile t + 1's loads are in flight while tile t is computed; its keys' rows
  // were looked up one iteration earlier (sRow double-buffered).
  const TileSpan tiles = key_tiles(KeyRange{lo, max(lo, hi)}, kDecodeKeys);
  if (tiles.first < tiles.end) {  // uniform per block
    lookup(tiles.first, 0);
    __syncthreads();  // sRow[0] and sQ are complete
    issue(0);
    if (tiles.first + 1 < tiles.end) lookup(tiles.first + 1, 1);
    store();
    __syncthreads();
    for (int t = tiles.first; t < tiles.end; ++t) {
      const int cur = (t - tiles.first) & 1;  // sRow buffer of tile t; tile t + 1 in cur ^ 1
      const bool more = t + 1 < tiles.end;
      if (more) issue(cur ^ 1);
      compute(t * kDecodeKeys);
      __syncthreads();  // sK/sV of tile t and sRow[cur] (read by tile t's loads) are free
      if (t + 2 < tiles.end) lookup(t + 2, cur);
      if (more) store();
      __syncthreads();
    }
  }

  const size_t rows_total = static_cast<size_t>(p.batch) * p.heads_q * p.len_q;
#pragma unroll
  for (int r = 0; r < kR; ++r) {
    if (r >= nr) continue;
    const int vr = row0 + decode_block_row(warp, r);
    const float inv = st[r].inv_sum();
    const size_t off = q_row_offset(b, map.head(hb, vr), map.query(vr), p.heads_q, p.len_q, d);
#pragma unroll
    for (int uu = 0; uu < kLaneUnits; ++uu) {
      const int u = lane + uu * kWarpSize;
      if (u >= units) continue;
      const int c0 = decode_unit_col(u, kElem);
#pragma unroll
      for (int e = 0; e < kPerUnit; ++e) {
        const float x = acc[r][uu * kPerUnit + e] * inv;
        if (p.part_o)
          p.part_o[split * rows_total * d + off + c0 + e] = x;
        else
          static_cast<T*>(p.o)[off + c0 + e] = from_float<T>(x);
      }
    }
    if (p.part_o && lane == 0) p.part_lse[split * rows_total + off / d] = st[r].lse();
  }
}

}  // namespace attnbench::gpu

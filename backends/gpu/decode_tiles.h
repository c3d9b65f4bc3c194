// Index math of the dedicated decode kernel (decode_attention.cuh): which key row and
// 16-byte vector each thread loads per key tile, the per-key row offsets looked up once
// per tile, which block rows a warp owns and which output columns a lane accumulates.
// Host/device (C++17), so tests replay the kernel's thread -> address mapping on the CPU
// and the emulation (host_emulation.cpp) stages its tiles through the same functions.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "attnbench/device_compat.h"
#include "launch_plan.h"

namespace attnbench::gpu {

constexpr int kDecodeWarps = 4;
constexpr int kDecodeRowsPerWarp = 4;
/// Virtual rows (RowMap: GQA group x query rows) of one decode block.
constexpr int kDecodeRows = kDecodeWarps * kDecodeRowsPerWarp;
/// Keys per tile: one per lane of a 32-lane group (a wave64 splits each row in two parts).
constexpr int kDecodeKeys = 32;
/// Bytes of one K/V load (uint4: 8 bf16/fp16 or 4 fp32).
constexpr int kDecodeVecBytes = 16;
/// Bytes of V a lane reads per key in P V (uint2: 4 bf16/fp16 or 2 fp32 columns).
constexpr int kDecodeUnitBytes = 8;
/// Row offset of a key the block must not read (outside its [lo, hi)).
constexpr long long kDecodeNoRow = -1;
/// Decode blocks asked per compute unit when planning splits: plan_splits fills about
/// twice the units it is given, so twice the SM count gives ~4 resident blocks per SM,
/// enough 16-byte loads in flight per SM to cover DRAM latency.
constexpr int kDecodeUnitsFactor = 2;

/// 16-byte vectors per K/V row of head_dim elements, 0 when a row is not a whole
/// number of them (the kernel then does not apply: decode keeps the SIMT body).
AB_INLINE int decode_vectors_per_row(int head_dim, int elem_bytes) {
  const int bytes = head_dim * elem_bytes;
  return bytes > 0 && bytes % kDecodeVecBytes == 0 ? bytes / kDecodeVecBytes : 0;
}

/// Load slots each thread owns per tensor per tile: a tile of kDecodeKeys rows of at
/// most vmax vectors spread over `threads` threads.
AB_INLINE constexpr int decode_slots(int vmax, int threads) {
  return (kDecodeKeys * vmax + threads - 1) / threads;
}

/// One 16-byte load of a tile: key within the tile (-1: the slot is idle) and vector.
struct DecodeSlot {
  int key, vec;
};

/// Slot i of thread tid: linear vector tid + i * threads of the tile's keys x vpr vectors
/// (row-major), so consecutive threads read consecutive 16 bytes of a row, then the next
/// key's row. The same for every tile: the kernel divides once, before its key loop.
AB_INLINE DecodeSlot decode_slot(int tid, int i, int threads, int vpr) {
  const int idx = tid + i * threads;
  if (vpr <= 0 || idx >= kDecodeKeys * vpr) return DecodeSlot{-1, 0};
  const int key = idx / vpr;
  return DecodeSlot{key, idx - key * vpr};
}

/// Element offset of key `key`'s row (the one block-table lookup of that key per tile),
/// or kDecodeNoRow outside [lo, hi): such keys are never read (padding, other splits).
template <class Kv>
AB_INLINE long long decode_row_of(const Kv& kv, int b, int hk, int key, int lo, int hi) {
  return key >= lo && key < hi ? static_cast<long long>(kv.row_offset(b, hk, key)) : kDecodeNoRow;
}

/// Element offset of vector `vec` of the row at element offset row_off.
AB_INLINE size_t decode_vec_offset(long long row_off, int vec, int elem_bytes) {
  return static_cast<size_t>(row_off) + static_cast<size_t>(vec) * (kDecodeVecBytes / elem_bytes);
}

/// Block row held in row slot r of warp `warp`: interleaved, so a block with few rows
/// (a GQA group of 4 at len_q 1) gives one row to each warp instead of all to warp 0.
AB_INLINE int decode_block_row(int warp, int r) { return warp + r * kDecodeWarps; }

/// Row slots of warp `warp` holding one of `rows` block rows: a prefix r < count.
AB_INLINE int decode_warp_rows(int warp, int rows) {
  int n = 0;
  while (n < kDecodeRowsPerWarp && decode_block_row(warp, n) < rows) ++n;
  return n;
}

/// 8-byte V units of a row (P V step); unit u holds columns [u * E, (u + 1) * E),
/// E = 8 / elem_bytes. Lane l accumulates units l, l + warp, ...
AB_INLINE int decode_units(int head_dim, int elem_bytes) {
  return head_dim * elem_bytes / kDecodeUnitBytes;
}
AB_INLINE int decode_unit_col(int unit, int elem_bytes) {
  return unit * (kDecodeUnitBytes / elem_bytes);
}

/// Keys [lo, hi) block (row tile at row0, split) may read: the union of its rows' mask
/// ranges clipped to the split; empty (hi <= lo) when they see nothing there.
AB_INLINE KeyRange decode_block_keys(const MaskHook& mask, const RowMap& map, int row0,
                                     const SplitPlan& plan, int split, int len_k) {
  const KeyRange clip = plan.keys_of(split, len_k);
  const KeyRange qs = map.queries_of(row0, kDecodeRows);
  const KeyRange span = tile_key_range(mask, qs.lo, qs.hi, map.len_q, len_k);
  return KeyRange{span.lo > clip.lo ? span.lo : clip.lo, span.hi < clip.hi ? span.hi : clip.hi};
}

/// Query-row tiles of kDecodeRows virtual rows a (batch, KV head) needs.
AB_INLINE int decode_row_tiles(int pack, int len_q) {
  return len_q > 0 ? ceil_div(pack * len_q, kDecodeRows) : 0;
}

/// Split-K plan of the decode kernel: whole tiles per split, sized from the SM count.
AB_INLINE SplitPlan plan_decode_splits(int len_k, int batch, int heads_kv, int pack, int len_q,
                                       int compute_units) {
  const int rows_parallel = batch * heads_kv * decode_row_tiles(pack, len_q);
  return plan_splits(len_k, rows_parallel, kDecodeUnitsFactor * compute_units, kDecodeKeys,
                     kMinKeysPerSplit, kMaxSplits);
}

}  // namespace attnbench::gpu

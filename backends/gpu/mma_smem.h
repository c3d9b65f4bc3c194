// Shared-memory layout of the flash MMA kernel (mma_attention.cuh): the block's Q tile and
// two stages of K and V tiles (cp.async double buffering), 16-byte chunks XOR-swizzled so
// ldmatrix reads and cp.async writes are free of bank conflicts. Host/device (AB_INLINE),
// C++17: the kernel computes every shared-memory index here, and
// tests/test_gpu_shared_logic.cpp checks the bank patterns on the CPU.
#pragma once

#include "attnbench/device_compat.h"
#include "mma_fragment.h"

namespace attnbench::gpu {

/// 16-bit elements in one 16-byte chunk: one ldmatrix row segment, one cp.async.
constexpr int kChunkElems = 8;

/// Element offset of (row, col) in a tile of rows of d 16-bit elements whose 16-byte
/// chunks are XOR-swizzled by the row: chunk c of row r is stored at chunk c ^ (r % 8).
/// Rows are 2d bytes apart (a multiple of 128 bytes for d % 64 == 0), so unswizzled the
/// eight rows one ldmatrix matrix reads would share four banks (8-way conflict, 16-way for
/// a transposing scalar store at d = 128); swizzled they cover all 32. Needs d % 64 == 0.
AB_INLINE int swizzled_offset(int row, int col, int d) {
  const int chunk = (col / kChunkElems) ^ (row & 7);
  return row * d + chunk * kChunkElems + col % kChunkElems;
}

/// Dynamic shared memory of the kernel at head_dim d, as element offsets: Q (kMmaBlockM
/// rows), then K stages 0 and 1, then V stages 0 and 1 (kMmaBlockN rows each). Every
/// region starts on a multiple of 128 bytes, so the swizzle's bank pattern holds in each.
struct MmaSmem {
  int d;
  AB_INLINE int q() const { return 0; }
  AB_INLINE int k(int stage) const { return (kMmaBlockM + stage * kMmaBlockN) * d; }
  AB_INLINE int v(int stage) const { return (kMmaBlockM + (2 + stage) * kMmaBlockN) * d; }
  AB_INLINE int elems() const { return (kMmaBlockM + 4 * kMmaBlockN) * d; }
  AB_INLINE int bytes() const { return elems() * 2; }
};

/// (row, column) of 16-byte chunk `idx` when a block copies rows of d elements: consecutive
/// threads take consecutive chunks of one row, so global reads coalesce and a quarter
/// warp's eight stores fall in one aligned group of eight chunks (distinct banks swizzled).
AB_INLINE FragCoord copy_chunk(int idx, int d) {
  const int per_row = d / kChunkElems;
  return FragCoord{idx / per_row, (idx % per_row) * kChunkElems};
}

/// Element offset, in a swizzled region of d-element rows, of the row segment `lane`
/// addresses for one ldmatrix.x4 of the flash kernel:
/// - Q (A operand) of warp `warp`'s 16 rows, dims kc * 16 .. + 15 (registers a0a1 .. a6a7);
AB_INLINE int ldsm_q_offset(int warp, int kc, int lane, int d) {
  const FragCoord s = ldsm_q_src(lane);
  return swizzled_offset(warp * kMmaM + s.row, kc * kMmaK + s.col, d);
}
/// - K (B of Q K^T) of keys np * 16 .. + 15, dims kc * 16 .. + 15: registers 0, 1 are
///   n-tile 2 np, registers 2, 3 n-tile 2 np + 1;
AB_INLINE int ldsm_k_offset(int np, int kc, int lane, int d) {
  const FragCoord s = ldsm_k_src(lane);
  return swizzled_offset(np * 16 + s.row, kc * kMmaK + s.col, d);
}
/// - V (B of P V, with .trans) of keys kc * 16 .. + 15, dims dp * 16 .. + 15: registers 0, 1
///   are dim tile 2 dp, registers 2, 3 dim tile 2 dp + 1.
AB_INLINE int ldsm_v_offset(int kc, int dp, int lane, int d) {
  const FragCoord s = ldsm_v_src(lane);
  return swizzled_offset(kc * kMmaK + s.row, dp * 16 + s.col, d);
}

}  // namespace attnbench::gpu

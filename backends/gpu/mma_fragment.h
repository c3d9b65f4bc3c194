// Fragment ownership of mma.sync.m16n8k16 (PTX ISA, "Matrix Fragments for
// mma.m16n8k16" with .f16/.bf16 inputs and .f32 accumulators): which lane holds which
// (row, column) of the A, B and C/D fragments, and the tiling of the flash MMA kernel
// (mma_attention.cuh) built on it. Host/device (AB_INLINE), C++17, no standard library:
// the kernel computes its indices here, and tests/test_gpu_shared_logic.cpp checks every
// mapping against the ISA tables on the CPU.
#pragma once

#include "attnbench/device_compat.h"

namespace attnbench::gpu {

constexpr int kMmaM = 16, kMmaN = 8, kMmaK = 16;  // one mma.m16n8k16
constexpr int kMmaLanes = 32;
constexpr int kMmaAElems = 8;  // 16-bit elements a0..a7 per lane (4 .b32 registers)
constexpr int kMmaBElems = 4;  // b0..b3 (2 .b32 registers)
constexpr int kMmaCElems = 4;  // fp32 c0..c3 (4 registers)

/// Tiling of the flash MMA kernel: each warp owns 16 query rows (one A/C row block).
constexpr int kMmaWarps = 8;
constexpr int kMmaThreads = kMmaWarps * kMmaLanes;
constexpr int kMmaBlockM = kMmaM * kMmaWarps;  // query rows per block
constexpr int kMmaBlockN = 64;                 // keys per tile (8 n-tiles of S, 4 k-chunks of P V)

/// A (row, column) of a fragment's matrix; for B, row is k and column is n.
struct FragCoord {
  int row;
  int col;
};

/// groupID and threadID_in_group of the ISA tables.
AB_INLINE int mma_group_id(int lane) { return lane >> 2; }
AB_INLINE int mma_thread_in_group(int lane) { return lane & 3; }

/// C/D (16x8 fp32): c0, c1 in row groupID, c2, c3 in row groupID + 8; column
/// threadID_in_group * 2 + (i & 1).
AB_INLINE FragCoord mma_c_coord(int lane, int i) {
  return FragCoord{mma_group_id(lane) + 8 * (i >> 1), mma_thread_in_group(lane) * 2 + (i & 1)};
}

/// A (16x16, row-major): a0, a1 in row groupID, a2, a3 in row groupID + 8, a4..a7 the same
/// rows 8 columns on; column threadID_in_group * 2 + (i & 1) (+8 for a4..a7).
AB_INLINE FragCoord mma_a_coord(int lane, int i) {
  return FragCoord{mma_group_id(lane) + 8 * ((i >> 1) & 1),
                   mma_thread_in_group(lane) * 2 + (i & 1) + 8 * (i >> 2)};
}

/// B (16x8, "col" operand): row k = threadID_in_group * 2 + (i & 1) (+8 for b2, b3),
/// column n = groupID.
AB_INLINE FragCoord mma_b_coord(int lane, int i) {
  return FragCoord{mma_thread_in_group(lane) * 2 + (i & 1) + 8 * (i >> 1), mma_group_id(lane)};
}

/// .b32 register `reg` of an A or B fragment packs elements 2 * reg (low half) and
/// 2 * reg + 1 (high half), which sit in adjacent columns (A) or k rows (B): the first
/// element's coordinates address the pair.
AB_INLINE FragCoord mma_a_pair(int lane, int reg) { return mma_a_coord(lane, 2 * reg); }
AB_INLINE FragCoord mma_b_pair(int lane, int reg) { return mma_b_coord(lane, 2 * reg); }
/// Accumulator pair `half` (c0, c1 or c2, c3): one row, adjacent columns.
AB_INLINE FragCoord mma_c_pair(int lane, int half) { return mma_c_coord(lane, 2 * half); }

/// Reuse of S accumulators as the A operand of O += P V (FlashAttention-2): A element i of
/// k-chunk kc (keys kc * 16 .. + 15) is C element mma_p_source_elem(i) of S n-tile
/// mma_p_source_tile(kc, i) (keys 8 * tile .. + 7). Same lane, so no shuffle is needed.
AB_INLINE int mma_p_source_tile(int kc, int i) { return 2 * kc + (i >> 2); }
AB_INLINE int mma_p_source_elem(int i) { return i & 3; }

// ldmatrix.sync.aligned.m8n8.x4[.trans].shared.b16 (PTX ISA, "Warp-level matrix load
// instruction: ldmatrix"): four 8x8 matrices of 16-bit elements; lanes 8i .. 8i + 7 supply
// the shared-memory addresses of rows 0..7 of matrix i (each row 16 contiguous bytes), and
// every lane receives one .b32 register per matrix, register i from matrix i.

/// Matrix whose row address `lane` supplies, and which row of it.
AB_INLINE int ldsm_matrix_of(int lane) { return lane >> 3; }
AB_INLINE int ldsm_row_of(int lane) { return lane & 7; }

/// Element `half` (0: low 16 bits, 1: high) of the register `lane` receives from one 8x8
/// matrix, as (row, column) of the matrix as stored (row = index of the supplying lane
/// within its eight, column = element within that row's 16 bytes). Without .trans a lane
/// gets row groupID, columns 2 * threadID_in_group (+1); .trans delivers the transpose.
AB_INLINE FragCoord ldsm_elem(int lane, int half, bool trans) {
  const FragCoord plain{mma_group_id(lane), mma_thread_in_group(lane) * 2 + half};
  return trans ? FragCoord{plain.col, plain.row} : plain;
}

/// Row-segment start (row, column) that `lane` addresses when one ldmatrix.x4 loads a
/// 16x16 tile stored row-major with matrix i at rows 8 * (i & 1), columns 8 * (i >> 1):
/// - Q as the A operand (no .trans): registers 0..3 are a0a1, a2a3, a4a5, a6a7;
/// - V [key][dim] as the B operand of P V (.trans; tile = 16 keys x 16 dims): registers
///   0, 1 are b0b1, b2b3 of dims 0..7, registers 2, 3 the same for dims 8..15.
AB_INLINE FragCoord ldsm_rows_first_src(int lane) {
  const int m = ldsm_matrix_of(lane);
  return FragCoord{8 * (m & 1) + ldsm_row_of(lane), 8 * (m >> 1)};
}
AB_INLINE FragCoord ldsm_q_src(int lane) { return ldsm_rows_first_src(lane); }
AB_INLINE FragCoord ldsm_v_src(int lane) { return ldsm_rows_first_src(lane); }

/// Row-segment start (key, dim) that `lane` addresses when one ldmatrix.x4 (no .trans)
/// loads K [key][dim] as the B operand of Q K^T (B(k, n) = K[n][k]) for 16 keys (two
/// n-tiles) x 16 dims: registers 0, 1 are b0b1, b2b3 of keys 0..7, registers 2, 3 of
/// keys 8..15 (matrix i at keys 8 * (i >> 1), dims 8 * (i & 1)).
AB_INLINE FragCoord ldsm_k_src(int lane) {
  const int m = ldsm_matrix_of(lane);
  return FragCoord{8 * (m >> 1) + ldsm_row_of(lane), 8 * (m & 1)};
}

/// Query row of the block's tile that accumulator pair `half` of `lane` in `warp` holds.
AB_INLINE int mma_tile_row(int row0, int warp, int lane, int half) {
  return row0 + warp * kMmaM + mma_c_pair(lane, half).row;
}

}  // namespace attnbench::gpu

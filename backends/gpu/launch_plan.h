// Grid, tile and split planning shared by the GPU launchers and the CPU emulation,
// so tests on the CPU check exactly the plans the device runs (host/device, C++17).
#pragma once

#include "attnbench/attention_hooks.h"
#include "attnbench/device_compat.h"

#include <stdint.h>

namespace attnbench::gpu {

/// Most partials a decode row is split into (the merge kernel's shared arrays).
constexpr int kMaxSplits = 64;
/// Fewest keys a decode split gets, so the merge stays cheap next to the splits.
constexpr int kMinKeysPerSplit = 256;

/// Ceiling division for non-negative ints.
AB_INLINE int ceil_div(int a, int b) { return (a + b - 1) / b; }

/// Grid of a flash launch: one block per (query tile, head, batch). Odd sizes get a
/// partial last tile; a zero-sized dimension yields an empty grid (nothing to launch).
struct FlashGrid {
  int tiles_q, heads_q, batch;
  AB_INLINE int blocks() const { return tiles_q * heads_q * batch; }
};

/// Plans the grid for len_q query rows in tiles of block_m rows.
AB_INLINE FlashGrid plan_flash_grid(int batch, int heads_q, int len_q, int block_m) {
  return FlashGrid{len_q > 0 ? ceil_div(len_q, block_m) : 0, heads_q, batch};
}

/// Keys of sequence b a kernel may read: seq_len_k[b] under varlen (device array),
/// else the padded len_k. Rows in [seq_keys, len_k) are padding the ABI never reads:
/// naive's O = P V loop stops here, because P = 0 times a NaN/Inf padding row of V
/// is still NaN.
AB_INLINE int seq_keys(const int32_t* seq_len_k, int b, int len_k) {
  return seq_len_k ? seq_len_k[b] : len_k;
}

/// CUDA's limit on grid.y and grid.z (grid.x allows 2^31 - 1 blocks).
constexpr long long kMaxGridYZ = 65535;
/// Largest grid.x a launch of `threads` threads per block may use: CUDA allows 2^31 - 1
/// blocks, HIP counts grid.x in work-items (blocks * threads < 2^32), so both are met by
/// (2^31 - 1) / threads; the device's own maxGridSize[0] may lower it further.
AB_INLINE long long max_grid_x(int threads, long long device_max_x) {
  long long m = 0x7fffffffLL / (threads > 0 ? threads : 1);
  if (device_max_x > 0 && device_max_x < m) m = device_max_x;
  return m;
}

/// Logical block coordinates of a folded launch (see GridFold).
struct BlockIdx3 {
  int x, y, z;
};

/// A logical 3-D grid (nx fastest, then ny, then nz) launched as a linear block id:
/// id = launch.x + launch.y * gx, folded into grid.x first and spilling into grid.y only
/// past max_x blocks, so batch * heads beyond 65535 (the grid.y/z limit) still launch.
/// The linear order equals the unfolded one (x fastest), so blocks are dispatched in the
/// same order as an unfolded (nx, ny, nz) grid. Blocks with id >= blocks() (the tail of
/// the last grid.y row) must exit at once: unfold() returns false for them.
struct GridFold {
  int nx, ny, nz;  // logical grid
  long long gx, gy;  // launched grid (gx * gy >= blocks(), gy - 1 rows are full)

  AB_INLINE long long blocks() const { return static_cast<long long>(nx) * ny * nz; }
  /// Whether the launch dimensions are within the limits (grid.y <= 65535).
  AB_INLINE bool fits() const { return gy <= kMaxGridYZ; }
  /// Linear block id of launched block (bx, by).
  AB_INLINE long long linear(long long bx, long long by) const { return by * gx + bx; }
  /// Logical coordinates of launched block (bx, by); false past the last logical block.
  AB_INLINE bool unfold(long long bx, long long by, BlockIdx3& out) const {
    const long long id = linear(bx, by);
    if (id >= blocks()) return false;
    const long long xy = id / nx;
    out.x = static_cast<int>(id - xy * nx);
    out.y = static_cast<int>(xy % ny);
    out.z = static_cast<int>(xy / ny);
    return true;
  }
  /// Inverse of unfold: the launched (bx, by) of logical block (x, y, z).
  AB_INLINE void fold(BlockIdx3 b, long long& bx, long long& by) const {
    const long long id = (static_cast<long long>(b.z) * ny + b.y) * nx + b.x;
    bx = id % gx;
    by = id / gx;
  }
};

/// Plans the launch of an (nx, ny, nz) logical grid with at most max_x blocks in grid.x
/// (max_grid_x). An empty logical grid yields gx = gy = 0: nothing to launch.
AB_INLINE GridFold fold_grid(int nx, int ny, int nz, long long max_x) {
  GridFold g{nx, ny, nz, 0, 0};
  const long long n = g.blocks();
  if (nx <= 0 || ny <= 0 || nz <= 0 || max_x <= 0) return GridFold{nx, ny, nz, 0, 0};
  g.gx = n < max_x ? n : max_x;
  g.gy = (n + g.gx - 1) / g.gx;
  return g;
}

/// Keys that query rows [row_begin, row_end) of one sequence may see: the union of
/// their mask ranges. MaskHook ranges are monotone in the row (both ends grow with
/// the query position), so the union is [range(first).lo, range(last).hi).
AB_INLINE KeyRange tile_key_range(const MaskHook& mask, int row_begin, int row_end, int len_q,
                                  int len_k) {
  if (row_end > len_q) row_end = len_q;
  if (row_begin >= row_end) return KeyRange{0, 0};
  const KeyRange first = mask.keys_for(row_begin, len_q, len_k);
  const KeyRange last = mask.keys_for(row_end - 1, len_q, len_k);
  // An empty row still reports its (monotone) lower bound, so first.lo is the union's
  // start even when the first rows see nothing (causal with len_q > len_k).
  return KeyRange{first.lo, last.hi > first.lo ? last.hi : first.lo};
}

/// Row tile that the flash block at logical x of an nx-tile grid takes: the last first.
/// Blocks are dispatched roughly in x order within a head, so under a causal mask the
/// tiles with the most keys start first and the light ones fill the tail of the wave.
AB_INLINE int heavy_first_tile(int x, int nx) { return nx - 1 - x; }

/// Whether every query row of [row_begin, row_end) (clipped to len_q) sees every key of
/// [key_begin, key_end): then a kernel may skip the per-element mask on that tile. Mask
/// ranges are monotone in the row, so the latest start is the last row's and the earliest
/// end the first row's. Vacuously true when no row is left after clipping (such rows are
/// never written).
AB_INLINE bool tile_fully_visible(const MaskHook& mask, int row_begin, int row_end, int len_q, int len_k,
                                  int key_begin, int key_end) {
  if (row_end > len_q) row_end = len_q;
  if (row_begin >= row_end) return true;
  const KeyRange first = mask.keys_for(row_begin, len_q, len_k);
  const KeyRange last = mask.keys_for(row_end - 1, len_q, len_k);
  return last.lo <= key_begin && key_end <= first.hi;
}

/// Row packing of a block: `pack` query heads that share one KV head (a GQA group)
/// are processed by one block as pack * len_q "virtual rows", so decode reads each KV
/// tile once per group instead of once per query head. pack = 1 is plain flash.
struct RowMap {
  int pack;
  int len_q;  // actual query length of the sequence

  /// Virtual rows of one block head (pack heads x len_q queries).
  AB_INLINE int rows() const { return pack * len_q; }
  /// Query head of virtual row vr in the block for head group `block_head`.
  AB_INLINE int head(int block_head, int vr) const { return block_head * pack + vr / len_q; }
  /// Query index (row of Q) of virtual row vr.
  AB_INLINE int query(int vr) const { return vr % len_q; }

  /// Query indices [lo, hi) that virtual rows [row0, row0 + count) touch: their own
  /// range inside one head, all of [0, len_q) once the rows cross into another head.
  AB_INLINE KeyRange queries_of(int row0, int count) const {
    int last = row0 + count;
    if (last > rows()) last = rows();
    if (row0 >= last) return KeyRange{0, 0};
    if (row0 / len_q != (last - 1) / len_q) return KeyRange{0, len_q};
    return KeyRange{query(row0), query(last - 1) + 1};
  }
};

/// Key tiles [first, end) of width block_n that cover a key range (tile t holds keys
/// [t * block_n, (t + 1) * block_n)); tiles are aligned so masks stay cheap to test.
struct TileSpan {
  int first, end;
};
AB_INLINE TileSpan key_tiles(KeyRange r, int block_n) {
  if (r.empty()) return TileSpan{0, 0};
  return TileSpan{r.lo / block_n, ceil_div(r.hi, block_n)};
}

/// Split of len_k keys into num_splits contiguous chunks of keys_per_split keys
/// (a multiple of the tile width); the last chunk may be short or empty.
struct SplitPlan {
  int num_splits;
  int keys_per_split;

  /// Keys [lo, hi) of split s, clipped to len_k (empty when past the end).
  AB_INLINE KeyRange keys_of(int s, int len_k) const {
    int lo = s * keys_per_split, hi = lo + keys_per_split;
    if (lo > len_k) lo = len_k;
    if (hi > len_k) hi = len_k;
    return KeyRange{lo, hi};
  }
};

/// Plans flash-decoding splits: enough (batch x heads x splits) blocks to fill the
/// device about twice (`compute_units` SMs/CUs), but at least min_keys keys per split
/// so the merge stays cheap, and at most max_splits partials per row.
AB_INLINE SplitPlan plan_splits(int len_k, int rows_parallel, int compute_units, int tile,
                                int min_keys, int max_splits) {
  if (len_k <= 0) return SplitPlan{1, tile};
  if (rows_parallel < 1) rows_parallel = 1;
  if (compute_units < 1) compute_units = 1;
  int want = ceil_div(2 * compute_units, rows_parallel);
  const int by_len = len_k / (min_keys > 0 ? min_keys : 1);
  if (want > by_len) want = by_len;
  if (want > max_splits) want = max_splits;
  if (want < 1) want = 1;
  int per = ceil_div(ceil_div(len_k, want), tile) * tile;  // whole tiles per split
  return SplitPlan{ceil_div(len_k, per), per};
}

}  // namespace attnbench::gpu

// CPU tests of the decode kernel's index math (backends/gpu/decode_tiles.h): the
// thread -> 16-byte load mapping replayed block by block (decode_replay.h) over
// contiguous and paged KV (HND and NHD, several page sizes), varlen, GQA packing and
// head dims 64..128 in fp32 and 16-bit storage, for warp widths 32 and 64. No GPU needed.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "decode_replay.h"
#include "kv_addressing.h"

using namespace attnbench;
using namespace attnbench::gpu;

namespace {

/// One replayed decode launch: a KV cache of `heads_kv` heads with per-sequence key
/// counts `lens` (padded to len_k), packed query rows, a split plan and a storage width.
struct Shape {
  int batch, heads_q, heads_kv, len_q, len_k, head_dim, elem_bytes;
  int causal, page_size, layout;
  std::vector<int> lens;  // seq_len_k per sequence
  int compute_units;
};

struct Counts {
  long long loads = 0;     // 16-byte loads issued
  int bad_address = 0;     // load offset != reference row_offset + column
  int out_of_range = 0;    // key outside [0, seq_len_k) or the block's range
  int misaligned = 0;      // offset not on a 16-byte boundary
  int not_once = 0;        // a (key, column) of a block's range not loaded exactly once
  int row_keys_missed = 0; // a row's visible key in no split's block range, or in two
};

/// Replays every block of the launch and checks each of its loads.
template <class Kv>
Counts replay(const Shape& s, const Kv& kv, int warp_size) {
  Counts n;
  const MaskHook mask{s.causal, -1, -1};
  const int pack = s.heads_q / s.heads_kv, d = s.head_dim, per_vec = kDecodeVecBytes / s.elem_bytes;
  const SplitPlan plan = plan_decode_splits(s.len_k, s.batch, s.heads_kv, pack, s.len_q, s.compute_units);
  for (int b = 0; b < s.batch; ++b)
    for (int hk = 0; hk < s.heads_kv; ++hk) {
      const int lk = s.lens[b];
      const RowMap map{pack, s.len_q};
      for (int row0 = 0; row0 < map.rows(); row0 += kDecodeRows) {
        std::vector<int> row_hits(static_cast<size_t>(kDecodeRows) * lk, 0);
        for (int split = 0; split < plan.num_splits; ++split) {
          const KeyRange keys = decode_block_keys(mask, map, row0, plan, split, lk);
          const int lo = keys.lo, hi = std::max(keys.lo, keys.hi);
          std::vector<int> hits(static_cast<size_t>(std::max(0, hi - lo)) * d, 0);
          const TileSpan tiles = key_tiles(KeyRange{lo, hi}, kDecodeKeys);
          for (int t = tiles.first; t < tiles.end; ++t)
            replay_decode_tile(kv, b, hk, t, keys.lo, keys.hi, d, s.elem_bytes, warp_size,
                               [&](int key, int vec, size_t off) {
                                 ++n.loads;
                                 if (key < 0 || key >= lk || key < lo || key >= hi) {
                                   ++n.out_of_range;
                                   return;
                                 }
                                 if ((off * s.elem_bytes) % kDecodeVecBytes != 0) ++n.misaligned;
                                 for (int e = 0; e < per_vec; ++e) {
                                   const int col = vec * per_vec + e;
                                   if (col >= d || off + e != kv.row_offset(b, hk, key) + col) ++n.bad_address;
                                   if (col < d) ++hits[static_cast<size_t>(key - lo) * d + col];
                                 }
                               });
          for (int x : hits) n.not_once += x != 1;
          // Every visible key of each of the block's rows inside this split is in range.
          for (int vr = row0; vr < std::min(row0 + kDecodeRows, map.rows()); ++vr) {
            const KeyRange vis = mask.keys_for(map.query(vr), s.len_q, lk), clip = plan.keys_of(split, lk);
            for (int key = std::max(vis.lo, clip.lo); key < std::min(vis.hi, clip.hi); ++key) {
              if (key < lo || key >= hi) ++n.row_keys_missed;
              ++row_hits[static_cast<size_t>(vr - row0) * lk + key];
            }
          }
        }
        for (int vr = row0; vr < std::min(row0 + kDecodeRows, map.rows()); ++vr) {
          const KeyRange vis = mask.keys_for(map.query(vr), s.len_q, lk);
          for (int key = 0; key < lk; ++key)
            n.row_keys_missed += row_hits[static_cast<size_t>(vr - row0) * lk + key] != (key >= vis.lo && key < vis.hi);
        }
      }
    }
  return n;
}

/// A shuffled block table of max_pages entries per sequence over a pool of num_pages.
std::vector<int32_t> shuffled_table(int batch, int max_pages, std::mt19937& rng) {
  std::vector<int32_t> t(static_cast<size_t>(batch) * max_pages);
  std::iota(t.begin(), t.end(), 0);
  std::shuffle(t.begin(), t.end(), rng);
  return t;
}

void require_clean(const Counts& n, const std::string& what) {
  INFO(what << " loads=" << n.loads);
  CHECK(n.loads > 0);
  CHECK(n.bad_address == 0);
  CHECK(n.out_of_range == 0);
  CHECK(n.misaligned == 0);
  CHECK(n.not_once == 0);
  CHECK(n.row_keys_missed == 0);
}

}  // namespace

TEST_CASE("decode loads cover every visible (key, column) once at the reference address", "[gpu][decode]") {
  std::mt19937 rng(17);
  int shapes = 0;
  for (int elem : {2, 4})
    for (int d : {64, 80, 96, 128})
      for (int warp : {32, 64})
        for (int causal : {0, 1})
          for (auto [hq, hkv, lq] : {std::array<int, 3>{8, 2, 1}, {8, 2, 5}, {4, 4, 3}, {32, 1, 1}}) {
            Shape s{3, hq, hkv, lq, 700, d, elem, causal, 0, AB_KV_HND, {700, 37, 333}, 4};
            const std::string base = "elem " + std::to_string(elem) + " d " + std::to_string(d) + " warp " +
                                     std::to_string(warp) + " causal " + std::to_string(causal) + " hq " +
                                     std::to_string(hq) + " lq " + std::to_string(lq);
            require_clean(replay(s, ContiguousKv{hkv, s.len_k, d}, warp), base + " contiguous");
            for (int page : {16, 32, 64})
              for (int layout : {AB_KV_HND, AB_KV_NHD}) {
                const int max_pages = (s.len_k + page - 1) / page;
                const auto table = shuffled_table(s.batch, max_pages, rng);
                const PagedKv kv{hkv, page, d, max_pages, table.data(), layout};
                require_clean(replay(s, kv, warp), base + " page " + std::to_string(page) + " layout " +
                                                       std::to_string(layout));
              }
            ++shapes;
          }
  REQUIRE(shapes == 2 * 4 * 2 * 2 * 4);
}

TEST_CASE("decode splits come from the SM count in whole tiles", "[gpu][decode]") {
  // b 8, 32/8 heads, Lk 32K on 132 SMs: 64 (batch, KV head) blocks, ~4 per SM asked.
  const SplitPlan p = plan_decode_splits(32768, 8, 8, 4, 1, 132);
  CHECK(p.keys_per_split % kDecodeKeys == 0);
  CHECK(p.num_splits == 9);  // ceil(2 * 2 * 132 / 64) = 9
  CHECK(p.num_splits * p.keys_per_split >= 32768);
  CHECK((p.num_splits - 1) * p.keys_per_split < 32768);
  // Short caches keep kMinKeysPerSplit keys per split; len_k 0 is one empty split.
  CHECK(plan_decode_splits(600, 1, 1, 1, 1, 132).num_splits == 2);
  CHECK(plan_decode_splits(0, 1, 1, 1, 1, 132).num_splits == 1);
  // Row tiles: a GQA group of 32 at len_q 1 is two blocks of 16 rows.
  CHECK(decode_row_tiles(32, 1) == 2);
  CHECK(decode_row_tiles(4, 16) == 4);
  CHECK(decode_row_tiles(4, 0) == 0);
}

TEST_CASE("decode rows, P V column units and load slots partition their ranges", "[gpu][decode]") {
  // Rows: each of a block's rows is held by exactly one (warp, slot), slots a prefix.
  for (int rows = 1; rows <= kDecodeRows; ++rows) {
    std::vector<int> held(rows, 0);
    for (int w = 0; w < kDecodeWarps; ++w)
      for (int r = 0; r < decode_warp_rows(w, rows); ++r) ++held[decode_block_row(w, r)];
    INFO("rows " << rows);
    CHECK(std::count(held.begin(), held.end(), 1) == rows);
  }
  CHECK(decode_warp_rows(0, 4) == 1);  // a GQA group of 4 gives one row to each warp
  CHECK(decode_warp_rows(3, 4) == 1);
  // P V: lane l holds units l, l + W, ... (as many as DMAX needs); every column once.
  for (int elem : {2, 4})
    for (int d : {64, 80, 96, 128})
      for (int warp : {32, 64}) {
        const int dmax = simt_dmax(d), per_unit = kDecodeUnitBytes / elem;
        const int lane_units = (dmax * elem / kDecodeUnitBytes + warp - 1) / warp;
        std::vector<int> cols(d, 0);
        for (int lane = 0; lane < warp; ++lane)
          for (int uu = 0; uu < lane_units; ++uu) {
            const int u = lane + uu * warp;
            if (u >= decode_units(d, elem)) break;
            for (int e = 0; e < per_unit; ++e) ++cols[decode_unit_col(u, elem) + e];
          }
        INFO("elem " << elem << " d " << d << " warp " << warp);
        CHECK(std::count(cols.begin(), cols.end(), 1) == d);
      }
  // Vectors per row: whole 16-byte vectors only (otherwise decode keeps the SIMT body).
  CHECK(decode_vectors_per_row(128, 2) == 16);
  CHECK(decode_vectors_per_row(80, 2) == 10);
  CHECK(decode_vectors_per_row(96, 4) == 24);
  CHECK(decode_vectors_per_row(36, 2) == 0);
  CHECK(decode_vectors_per_row(50, 4) == 0);
  // The slot count of the kernel's DMAX covers a full tile at any head_dim up to it.
  CHECK(decode_slots(16, 128) * 128 >= kDecodeKeys * 16);
  CHECK(decode_slots(32, 256) == 4);
}

TEST_CASE("keys outside the block's range are never looked up nor loaded", "[gpu][decode]") {
  // A block table whose entries past the sequence's pages are poison (-1): a lookup of
  // a key past seq_len_k would produce a negative page; none may happen.
  const int page = 16, max_pages = 8, d = 128;
  std::vector<int32_t> table(max_pages, -1);
  for (int i = 0; i < 3; ++i) table[i] = 5 - i;  // seq_len_k 37: pages 0..2 mapped
  const PagedKv kv{2, page, d, max_pages, table.data(), AB_KV_NHD};
  long long loads = 0;
  int bad = 0;
  const TileSpan tiles = key_tiles(KeyRange{0, 37}, kDecodeKeys);
  for (int t = tiles.first; t < tiles.end; ++t)
    replay_decode_tile(kv, 0, 1, t, 0, 37, d, 2, 32, [&](int key, int, size_t off) {
      ++loads;
      bad += key >= 37 || off >= size_t(6) * page * 2 * d;
    });
  CHECK(loads == 37 * 16);  // 37 keys x 16 vectors, the padding keys of tile 1 untouched
  CHECK(bad == 0);
  for (int key = 37; key < 64; ++key) CHECK(decode_row_of(kv, 0, 1, key, 0, 37) == kDecodeNoRow);
}

TEST_CASE("decode takes the dedicated kernel only for whole 16-byte rows and aligned K/V", "[gpu][decode][caps]") {
  alignas(16) static unsigned char pool[64];
  ab_attention_args a{};
  a.batch = 1; a.heads_q = 8; a.heads_kv = 2; a.len_q = 1; a.len_k = 100; a.head_dim = 128; a.dtype = AB_BF16;
  a.k = reinterpret_cast<ab_buffer>(pool);
  a.v = reinterpret_cast<ab_buffer>(pool + 32);
  CHECK(use_decode_kernel(a, false));
  CHECK_FALSE(use_decode_kernel(a, true));  // path=simt keeps the SIMT body
  a.head_dim = 36;                          // 72 bytes per row: not whole vectors
  CHECK_FALSE(use_decode_kernel(a, false));
  a.dtype = AB_F32;                         // 144 bytes: whole vectors again
  CHECK(use_decode_kernel(a, false));
  a.head_dim = 50;
  CHECK_FALSE(use_decode_kernel(a, false));
  a.head_dim = 64;
  a.v = reinterpret_cast<ab_buffer>(pool + 8);  // a buffer at an odd offset
  CHECK_FALSE(use_decode_kernel(a, false));
}

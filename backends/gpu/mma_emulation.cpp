#include "mma_emulation.h"

#include <array>
#include <cmath>
#include <vector>

#include "kernel_math.h"
#include "kv_addressing.h"
#include "launch_plan.h"
#include "mma_fragment.h"
#include "mma_smem.h"

namespace attnbench::gpu {
namespace {

/// Registers of one warp: [lane][element].
template <int N>
using WarpRegs = std::vector<std::array<float, N>>;

/// ldmatrix.x4 from the shared image: register reg, half h of lane L comes from the row
/// segment that lane 8 reg + ldsm_elem(L, h).row addresses (offset(lane), an element
/// offset from `base`), column ldsm_elem(L, h).col. Returns [lane][2 reg + h].
template <class Off>
WarpRegs<8> ldmatrix_x4(const std::vector<float>& smem, int base, bool trans, Off offset) {
  WarpRegs<8> r(kMmaLanes);
  for (int lane = 0; lane < kMmaLanes; ++lane)
    for (int reg = 0; reg < 4; ++reg)
      for (int half = 0; half < 2; ++half) {
        const FragCoord e = ldsm_elem(lane, half, trans);
        int src = 0;  // the lane whose address supplies row e.row of matrix reg
        while (!(ldsm_matrix_of(src) == reg && ldsm_row_of(src) == e.row)) ++src;
        r[lane][2 * reg + half] = smem[base + offset(src) + e.col];
      }
  return r;
}

/// mma.m16n8k16: c += A B with A elements a[lane][0..7], B elements b0b1, b2b3 taken
/// from registers rb, rb + 1 of b (elements 2 rb .. 2 rb + 3), c[lane][0..3].
void mma(WarpRegs<4>& c, const WarpRegs<8>& a, const WarpRegs<8>& b, int rb) {
  double A[kMmaM][kMmaK], B[kMmaK][kMmaN];
  for (int lane = 0; lane < kMmaLanes; ++lane) {
    for (int i = 0; i < kMmaAElems; ++i) A[mma_a_coord(lane, i).row][mma_a_coord(lane, i).col] = a[lane][i];
    for (int i = 0; i < kMmaBElems; ++i) B[mma_b_coord(lane, i).row][mma_b_coord(lane, i).col] = b[lane][2 * rb + i];
  }
  for (int lane = 0; lane < kMmaLanes; ++lane)
    for (int i = 0; i < kMmaCElems; ++i) {
      const FragCoord x = mma_c_coord(lane, i);
      double acc = 0;
      for (int kk = 0; kk < kMmaK; ++kk) acc += A[x.row][kk] * B[kk][x.col];
      c[lane][i] += static_cast<float>(acc);
    }
}

/// The block's copy of a rows x d tile into the image at `dst`: chunk by chunk as the
/// kernel's threads issue them (copy_chunk), zero-filled where row_ptr gives null.
template <class RowPtr>
void copy_tile(std::vector<float>& smem, int dst, int rows, int d, RowPtr row_ptr) {
  for (int idx = 0; idx < rows * d / kChunkElems; ++idx) {
    const FragCoord c = copy_chunk(idx, d);
    const float* src = row_ptr(c.row);
    for (int e = 0; e < kChunkElems; ++e)
      smem[dst + swizzled_offset(c.row, c.col + e, d)] = src ? src[c.col + e] : 0.0f;
  }
}

}  // namespace

void emulate_mma_flash(const ab_attention_args& a, const float* q, const float* k, const float* v, float* o) {
  const int d = a.head_dim;
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  const LogitsHook logits{a.scale, a.softcap};
  const float scale_log2 = a.scale * kLog2e;
  const ContiguousKv kv{a.heads_kv, a.len_k, d};
  const MmaSmem sm{d};
  const FlashGrid grid = plan_flash_grid(a.batch, a.heads_q, a.len_q, kMmaBlockM);
  std::vector<float> smem(sm.elems());
  for (int b = 0; b < grid.batch; ++b)
    for (int h = 0; h < grid.heads_q; ++h)
      for (int bx = 0; bx < grid.tiles_q; ++bx) {
        const int lq = a.seq_len_q ? a.seq_len_q[b] : a.len_q, lk = a.seq_len_k ? a.seq_len_k[b] : a.len_k;
        const int row0 = heavy_first_tile(bx, grid.tiles_q) * kMmaBlockM;
        if (row0 >= lq) continue;
        const int hk = kv_head_of(h, a.heads_q, a.heads_kv);
        const KeyRange span = tile_key_range(mask, row0, row0 + kMmaBlockM, lq, lk);
        smem.assign(smem.size(), NAN);
        copy_tile(smem, sm.q(), kMmaBlockM, d, [&](int r) -> const float* {
          const int row = row0 + r;
          return row < lq ? q + q_row_offset(b, h, row, a.heads_q, a.len_q, d) : nullptr;
        });
        auto load_kv = [&](int t, int stage) {
          auto row_of = [&](const float* base) {
            return [=, &span](int r) -> const float* {
              const int key = t * kMmaBlockN + r;
              return key >= span.lo && key < span.hi ? base + kv.row_offset(b, hk, key) : nullptr;
            };
          };
          copy_tile(smem, sm.k(stage), kMmaBlockN, d, row_of(k));
          copy_tile(smem, sm.v(stage), kMmaBlockN, d, row_of(v));
        };
        const TileSpan tiles = key_tiles(span, kMmaBlockN);
        // Warps in turn, each over the whole key loop with its own walk of the stage copies
        // (first tile, then tile t + 1 into the other stage before tile t's math): on the
        // device a stage is refilled only after every warp is done with it (the barriers),
        // so each warp sees exactly these images.
        for (int warp = 0; warp < kMmaWarps; ++warp) {
          const int warp_row0 = row0 + warp * kMmaM;
          std::vector<std::array<OnlineSoftmax2, 2>> st(kMmaLanes);
          std::vector<std::array<KeyRange, 2>> vis(kMmaLanes);
          for (int lane = 0; lane < kMmaLanes; ++lane)
            for (int r = 0; r < 2; ++r) {
              const int row = mma_tile_row(row0, warp, lane, r);
              vis[lane][r] = row < lq ? mask.keys_for(row, lq, lk) : KeyRange{0, 0};
              st[lane][r] = OnlineSoftmax2::start();
            }
          std::vector<WarpRegs<4>> o_tiles(d / kMmaN, WarpRegs<4>(kMmaLanes, std::array<float, 4>{}));
          if (tiles.first < tiles.end) load_kv(tiles.first, 0);
          for (int t = tiles.first; t < tiles.end; ++t) {
            const int stage = (t - tiles.first) & 1, key0 = t * kMmaBlockN;
            if (t + 1 < tiles.end) load_kv(t + 1, stage ^ 1);
            std::vector<WarpRegs<4>> s(kMmaBlockN / kMmaN, WarpRegs<4>(kMmaLanes, std::array<float, 4>{}));
            for (int kc = 0; kc < d / kMmaK; ++kc) {
              const auto qa = ldmatrix_x4(smem, sm.q(), false, [&](int l) { return ldsm_q_offset(warp, kc, l, d); });
              for (int np = 0; np < kMmaBlockN / 16; ++np) {
                const auto kb = ldmatrix_x4(smem, sm.k(stage), false, [&](int l) { return ldsm_k_offset(np, kc, l, d); });
                mma(s[2 * np], qa, kb, 0);
                mma(s[2 * np + 1], qa, kb, 2);
              }
            }
            const bool inside = tile_fully_visible(mask, warp_row0, warp_row0 + kMmaM, lq, lk, key0, key0 + kMmaBlockN);
            // Logits, masked only on tiles crossing a mask boundary of the warp's rows.
            for (int lane = 0; lane < kMmaLanes; ++lane)
              for (int nt = 0; nt < kMmaBlockN / kMmaN; ++nt)
                for (int e = 0; e < kMmaCElems; ++e) {
                  float x = logit_log2(logits, scale_log2, s[nt][lane][e]);
                  const int key = key0 + nt * kMmaN + mma_c_coord(lane, e).col;
                  if (!inside && (key < vis[lane][e >> 1].lo || key >= vis[lane][e >> 1].hi)) x = neg_inf();
                  s[nt][lane][e] = x;
                }
            // Row maxima over the lane quad (the kernel's xor 1, 2 shuffles), rescale of the
            // state and of O; then probabilities and the quad's mass.
            for (int lane = 0; lane < kMmaLanes; ++lane)
              for (int r = 0; r < 2; ++r) {
                float m = neg_inf();
                for (int l = lane & ~3; l < (lane & ~3) + 4; ++l)
                  for (int nt = 0; nt < kMmaBlockN / kMmaN; ++nt)
                    for (int e = 2 * r; e < 2 * r + 2; ++e) m = std::fmax(m, s[nt][l][e]);
                const float alpha = st[lane][r].rescale(m);
                for (int dt = 0; dt < d / kMmaN; ++dt)
                  for (int e = 2 * r; e < 2 * r + 2; ++e) o_tiles[dt][lane][e] *= alpha;
              }
            for (int nt = 0; nt < kMmaBlockN / kMmaN; ++nt)
              for (int lane = 0; lane < kMmaLanes; ++lane)
                for (int e = 0; e < kMmaCElems; ++e) s[nt][lane][e] = st[lane][e >> 1].prob(s[nt][lane][e]);
            for (int lane = 0; lane < kMmaLanes; ++lane)
              for (int r = 0; r < 2; ++r) {
                float mass = 0.0f;
                for (int l = lane & ~3; l < (lane & ~3) + 4; ++l)
                  for (int nt = 0; nt < kMmaBlockN / kMmaN; ++nt)
                    for (int e = 2 * r; e < 2 * r + 2; ++e) mass += s[nt][l][e];
                st[lane][r].add(mass);
              }
            // O += P V with P from the S registers (mma_p_source_*), V through ldmatrix.trans.
            for (int kc = 0; kc < kMmaBlockN / kMmaK; ++kc) {
              WarpRegs<8> pa(kMmaLanes);
              for (int lane = 0; lane < kMmaLanes; ++lane)
                for (int i = 0; i < kMmaAElems; ++i) pa[lane][i] = s[mma_p_source_tile(kc, i)][lane][mma_p_source_elem(i)];
              for (int dp = 0; dp < d / 16; ++dp) {
                const auto vb = ldmatrix_x4(smem, sm.v(stage), true, [&](int l) { return ldsm_v_offset(kc, dp, l, d); });
                mma(o_tiles[2 * dp], pa, vb, 0);
                mma(o_tiles[2 * dp + 1], pa, vb, 2);
              }
            }
          }
          for (int lane = 0; lane < kMmaLanes; ++lane)
            for (int r = 0; r < 2; ++r) {
              const int row = mma_tile_row(row0, warp, lane, r);
              if (row >= lq) continue;
              const float inv = st[lane][r].inv_sum();
              const size_t base = q_row_offset(b, h, row, a.heads_q, a.len_q, d);
              const int col = mma_c_pair(lane, r).col;
              for (int dt = 0; dt < d / kMmaN; ++dt) {
                o[base + dt * kMmaN + col] = o_tiles[dt][lane][2 * r] * inv;
                o[base + dt * kMmaN + col + 1] = o_tiles[dt][lane][2 * r + 1] * inv;
              }
            }
        }
      }
}

}  // namespace attnbench::gpu

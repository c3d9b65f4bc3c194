// `flash` backward: FlashAttention-2's backward pass on the CPU. Nothing of size
// len_q x len_k is stored: per (query tile, key block) it recomputes the base-2 logits
// S from Q, K and the forward's LSE, then P = exp2(S - LSE), dP = dO V^T, dS = P (dP - D)
// with D_i = rowsum(dO_i * O_i) computed once per row, and accumulates
// dV += P^T dO, dK += scale dS^T Q, dQ += scale dS K.
//
// Parallel over (batch, KV head, block of kBlockK keys): a work item owns its dK and dV
// rows (summed over the query heads of the GQA group inside the item), so they need no
// synchronisation. dQ rows receive contributions from every key block, so each thread
// accumulates into its own zeroed fp32 dQ partial, summed at the end: no race, and the
// five products per tile are all that is computed (a second dQ pass would recompute S and
// dP). The partials cost threads x len_q x heads_q x d floats, the packed query side
// (below) about two more copies of Q in fp32 (four for 16-bit storage or d % 32 != 0).
//
// Layouts: S^T and dP^T are [keys][32 query lanes] tiles from the forward's score
// microkernel (score_tile over Q^T and dO^T), so mask and softmax are element-wise as in
// the forward; the gradient products are rank-1 updates over head-dim lanes
// (backward_microkernel.h). K and V blocks are fp32 in padded scratch (bf16 / fp16 widened
// on load); the query side (Q^T, dO^T, rows, LSE, D) is packed once per call.
#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "backward_microkernel.h"
#include "flash_microkernel.h"
#include "group_ranges.h"
#include "isa_kernels.h"
#include "tensor_access.h"
#include "topk_common.h"

AB_CPU_NS_BEGIN
namespace {

// Keys per work item: K, V, dK, dV blocks of 128 x 128 fp32 (64 KiB each) stay in L2
// while the item walks the query tiles. 128 rather than 64 halves the per-block work
// that does not scale with the block (d=128, L=1024, 8 heads, causal: 113 vs 105 GFLOP
// per CPU-second, measured on a loaded 2-core VM).
constexpr int kBlockK = 128;

struct BackwardScratch {
  ScratchF32 kb, vb, dk, dv, st, dpt, row;
};
thread_local BackwardScratch tls_bwd;
thread_local ScratchF32 tls_dq_partial;  // this thread's dQ partial (see above)
// The query side packed once per call by the calling thread (see QuerySide).
struct QueryScratch {
  ScratchF32 qt, dot, qr, dor, lse2, delta;
};
thread_local QueryScratch tls_query;

/// Q and dO in the forms the products read, packed once per call (every key block
/// reads every query tile, so packing per pair would repeat it len_k / kBlockK times):
/// per query tile Q^T (scaled to base-2 logits) and dO^T [d][32] with zero padding lanes,
/// fp32 rows of width dp (the inputs themselves when they are fp32 and d = dp), the
/// base-2 LSE (+inf where P must be 0: rows without keys) and D per row.
struct QuerySide {
  const float* qt = nullptr;
  const float* dot = nullptr;
  const float* qr = nullptr;
  const float* dor = nullptr;
  const float* lse2 = nullptr;
  const float* delta = nullptr;
};

/// What every work item of one call shares.
struct Call {
  const ab_backward_args* g;
  int d, dp, lq, lk, group;
  float qscale;                     // scale * log2 e: logits in base 2
  int tiles_per_head;
  std::vector<GroupRanges> tiles;   // per query tile of kQRows rows (same for every head)
  QuerySide qs;
};

int padded_dim(int d) { return (d + kQRows - 1) / kQRows * kQRows; }

/// Loads n rows of width d (element offset `off`, stride d) into fp32 rows of width dp,
/// zero-filling the padding.
void load_rows(ab_dtype t, const void* base, size_t off, int n, int d, int dp, float* dst) {
  for (int r = 0; r < n; ++r) {
    float* row = dst + static_cast<size_t>(r) * dp;
    load_row_f32(t, base, off + static_cast<size_t>(r) * d, row, d);
    std::fill(row + d, row + dp, 0.0f);
  }
}

/// One query tile against one key block: recompute P and dS, accumulate dV, dK (in the
/// item's blocks) and dQ (in this thread's partial).
void tile_step(const Call& c, int b, int h, int tile, int k0, int nk, const float* kb, const float* vb, float* dk,
               float* dv, float* dq_partial) {
  const ab_attention_args& a = c.g->fwd;
  const int d = c.d, dp = c.dp, nq = std::min(kQRows, c.lq - tile * kQRows);
  const GroupRanges& gr = c.tiles[tile];
  BackwardScratch& s = tls_bwd;
  float* st = s.st.get(static_cast<size_t>(kBlockK) * kQRows);
  float* dpt = s.dpt.get(static_cast<size_t>(kBlockK) * kQRows);
  const size_t tile_id = (static_cast<size_t>(b) * a.heads_q + h) * c.tiles_per_head + tile;
  const size_t r0 = (static_cast<size_t>(b) * a.heads_q + h) * a.len_q + static_cast<size_t>(tile) * kQRows;
  const float* qt = c.qs.qt + tile_id * d * kQRows;
  const float* dot_t = c.qs.dot + tile_id * d * kQRows;
  const float* qr = c.qs.qr + r0 * dp;
  const float* dor = c.qs.dor + r0 * dp;
  alignas(64) float lse2[kQRows], delta[kQRows];
  for (int i = 0; i < kQRows; ++i) {
    lse2[i] = i < nq ? c.qs.lse2[r0 + i] : INFINITY;  // padding lanes: P = 0
    delta[i] = i < nq ? c.qs.delta[r0 + i] : 0.0f;
  }

  score_tile(qt, d, kb, dp, nk, st);      // S^T (base 2)
  score_tile(dot_t, d, vb, dp, nk, dpt);  // dP^T
  const bool need_mask = !(k0 >= gr.all_lo && k0 + nk <= gr.all_hi);
  for (int half = 0; half < 2; ++half) {
    const V16 l2 = v_load(lse2 + half * 16), dl = v_load(delta + half * 16);
    for (int j = 0; j < nk; ++j) {
      float* sp = st + j * kQRows + half * 16;
      float* dpp = dpt + j * kQRows + half * 16;
      V16 x = v_load(sp);
      if (need_mask) x = v_mask_rows(x, k0 + j, gr.lo + half * 16, gr.hi + half * 16);
      const V16 p = v_exp2(v_sub(x, l2));
      v_store(sp, p);
      v_store(dpp, v_mul(p, v_sub(v_load(dpp), dl)));
    }
  }
  // Only the tile's nq rows are read: past them lie the next head's rows (or the end).
  rank1_tile(dor, dp, st, 1, kQRows, nq, nk, dp, dv, dp);   // dV[j] += sum_i P[i][j] dO[i]
  rank1_tile(qr, dp, dpt, 1, kQRows, nq, nk, dp, dk, dp);   // dK[j] += sum_i dS[i][j] Q[i]
  rank1_tile(kb, dp, dpt, kQRows, 1, nk, nq, dp, dq_partial + r0 * dp, dp);  // dQ[i] += sum_j dS[i][j] K[j]
}

/// One work item: keys [k0, k0 + kBlockK) of KV head (b, hk), against every query row of
/// the heads sharing it that sees one of them.
void key_block(const Call& c, int b, int hk, int k0, float* dq_partial) {
  const ab_backward_args& g = *c.g;
  const ab_attention_args& a = g.fwd;
  const int d = c.d, dp = c.dp, nk = std::min(kBlockK, c.lk - k0);
  BackwardScratch& s = tls_bwd;
  const size_t block = static_cast<size_t>(kBlockK) * dp;
  float* kb = s.kb.get(block);
  float* vb = s.vb.get(block);
  float* dk = s.dk.get(block);
  float* dv = s.dv.get(block);
  const size_t kv_off = row_offset(b, hk, k0, a.heads_kv, a.len_k, d);
  load_rows(a.dtype, a.k, kv_off, nk, d, dp, kb);
  load_rows(a.dtype, a.v, kv_off, nk, d, dp, vb);
  std::fill(dk, dk + block, 0.0f);
  std::fill(dv, dv + block, 0.0f);
  for (int h = hk * c.group; h < (hk + 1) * c.group; ++h)
    for (int t = 0; t < static_cast<int>(c.tiles.size()); ++t) {
      const GroupRanges& gr = c.tiles[t];
      if (gr.walk_hi <= k0 || gr.walk_lo >= k0 + nk) continue;  // no row of the tile sees the block
      tile_step(c, b, h, t, k0, nk, kb, vb, dk, dv, dq_partial);
    }
  float* row = s.row.get(dp);
  for (int j = 0; j < nk; ++j) {
    const size_t off = kv_off + static_cast<size_t>(j) * d;
    for (int t = 0; t < d; ++t) row[t] = dk[static_cast<size_t>(j) * dp + t] * a.scale;
    store_row(a.dtype, g.d_k, off, row, d);
    store_row(a.dtype, g.d_v, off, dv + static_cast<size_t>(j) * dp, d);
  }
}

/// Packs the query side of the call (QuerySide) into the calling thread's scratch, one
/// task per query tile.
QuerySide pack_query_side(const Call& c) {
  const ab_backward_args& g = *c.g;
  const ab_attention_args& a = g.fwd;
  const int d = c.d, dp = c.dp;
  const size_t heads = static_cast<size_t>(a.batch) * a.heads_q, rows = heads * a.len_q;
  const size_t tiles = heads * c.tiles_per_head;
  QueryScratch& s = tls_query;
  QuerySide qs;
  float* qt = s.qt.get(std::max<size_t>(1, tiles * d * kQRows));
  float* dot_t = s.dot.get(std::max<size_t>(1, tiles * d * kQRows));
  float* lse2 = s.lse2.get(std::max<size_t>(1, rows));
  float* delta = s.delta.get(std::max<size_t>(1, rows));
  // fp32 rows without padding are read in place.
  const bool in_place = a.dtype == AB_F32 && d == dp;
  float* qr = in_place ? nullptr : s.qr.get(std::max<size_t>(1, rows * dp));
  float* dor = in_place ? nullptr : s.dor.get(std::max<size_t>(1, rows * dp));
  const float* lse = host_ptr<const float>(a.lse);
  const float qscale = a.scale * kLog2e;
  tbb::parallel_for(size_t{0}, tiles, [&](size_t tile_id) {
    const size_t head = tile_id / c.tiles_per_head;
    const int q0 = static_cast<int>(tile_id % c.tiles_per_head) * kQRows, nq = std::min(kQRows, c.lq - q0);
    const size_t r0 = head * a.len_q + q0;
    thread_local std::vector<float> qrow, grow, orow;
    qrow.resize(d);
    grow.resize(d);
    orow.resize(d);
    float* t_q = qt + tile_id * d * kQRows;
    float* t_g = dot_t + tile_id * d * kQRows;
    std::fill(t_q, t_q + static_cast<size_t>(d) * kQRows, 0.0f);
    std::fill(t_g, t_g + static_cast<size_t>(d) * kQRows, 0.0f);
    for (int i = 0; i < nq; ++i) {
      const size_t r = r0 + i;
      load_row_f32(a.dtype, a.q, r * d, qrow.data(), d);
      load_row_f32(a.dtype, g.d_o, r * d, grow.data(), d);
      load_row_f32(a.dtype, a.o, r * d, orow.data(), d);
      for (int t = 0; t < d; ++t) {
        t_q[t * kQRows + i] = qrow[t] * qscale;
        t_g[t * kQRows + i] = grow[t];
      }
      if (!in_place) {
        std::copy(qrow.begin(), qrow.end(), qr + r * dp);
        std::fill(qr + r * dp + d, qr + (r + 1) * dp, 0.0f);
        std::copy(grow.begin(), grow.end(), dor + r * dp);
        std::fill(dor + r * dp + d, dor + (r + 1) * dp, 0.0f);
      }
      lse2[r] = lse[r] == -INFINITY ? INFINITY : lse[r] * kLog2e;  // no key: P = 0
      delta[r] = topk::dot(orow.data(), grow.data(), d);
    }
  });
  qs.qt = qt;
  qs.dot = dot_t;
  qs.qr = in_place ? host_ptr<const float>(a.q) : qr;
  qs.dor = in_place ? host_ptr<const float>(g.d_o) : dor;
  qs.lse2 = lse2;
  qs.delta = delta;
  return qs;
}

/// dQ = scale * (sum of the threads' partials), written in the storage dtype.
void reduce_dq(const ab_backward_args& g, int dp, const std::vector<float*>& parts) {
  const ab_attention_args& a = g.fwd;
  const int d = a.head_dim;
  const size_t rows = static_cast<size_t>(a.batch) * a.heads_q * a.len_q;
  tbb::parallel_for(tbb::blocked_range<size_t>(0, rows, 64), [&](const tbb::blocked_range<size_t>& r) {
    std::vector<float> sum(dp);
    const V16 scale = v_set1(a.scale);
    for (size_t i = r.begin(); i != r.end(); ++i) {
      for (int c = 0; c < dp; c += 16) {
        V16 acc = v_zero();
        for (const float* p : parts) acc = v_add(acc, v_load(p + i * dp + c));
        v_store(sum.data() + c, v_mul(acc, scale));
      }
      store_row(a.dtype, g.d_q, i * d, sum.data(), d);
    }
  });
}

}  // namespace

void flash_backward(const ab_backward_args& g) {
  const ab_attention_args& a = g.fwd;
  if (a.batch <= 0) return;
  Call c;
  c.g = &g;
  c.d = a.head_dim;
  c.dp = padded_dim(a.head_dim);
  c.lq = a.len_q;
  c.lk = a.len_k;
  c.group = a.heads_q / a.heads_kv;
  c.qscale = a.scale * kLog2e;
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  for (int q0 = 0; q0 < c.lq; q0 += kQRows)
    c.tiles.push_back(group_ranges(mask, q0, std::min(kQRows, c.lq - q0), c.lq, c.lk));
  c.tiles_per_head = static_cast<int>(c.tiles.size());
  c.qs = pack_query_side(c);

  const size_t partial_floats = static_cast<size_t>(a.batch) * a.heads_q * a.len_q * c.dp;
  tbb::enumerable_thread_specific<float*> partials(nullptr);
  const int blocks = (c.lk + kBlockK - 1) / kBlockK, bhk = a.batch * a.heads_kv;
  // Block-major order: under a causal mask the first key blocks are seen by the most
  // query rows, so the heavy items start first and the work-stealing tail is cheap.
  tbb::parallel_for(tbb::blocked_range<int>(0, blocks * bhk, 1), [&](const tbb::blocked_range<int>& r) {
    float*& part = partials.local();
    if (!part) {
      part = tls_dq_partial.get(std::max<size_t>(partial_floats, 1));
      std::fill(part, part + partial_floats, 0.0f);
    }
    for (int idx = r.begin(); idx != r.end(); ++idx) {
      const int bh = idx % bhk;
      key_block(c, bh / a.heads_kv, bh % a.heads_kv, (idx / bhk) * kBlockK, part);
    }
  });
  reduce_dq(g, c.dp, std::vector<float*>(partials.begin(), partials.end()));
}

AB_CPU_NS_END

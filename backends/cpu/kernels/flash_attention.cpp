// `flash`: tiled exact attention with online softmax (FlashAttention / Rabe & Staats).
// One work item is (batch, query head, group of 32 query rows); it walks the key
// tiles its rows can see, keeping a running max m, running sum l and a rescaled
// accumulator O^T in per-thread scratch: O(d * 32) extra memory per thread.
//
// Layout choice (see flash_microkernel.h): query rows live in vector lanes, so
// S^T = K Q^T and O^T += V^T P^T are broadcast-FMA microkernels over row-major K
// and V, the softmax is element-wise, and the mask is a per-lane compare applied
// only to tiles that straddle a row's key range. Logits are computed in base 2
// (scale * log2 e folded into Q) so the softmax uses exp2.
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "attnbench/attention_hooks.h"
#include "isa_kernels.h"
#include "flash_bf16_microkernel.h"
#include "flash_microkernel.h"
#include "group_ranges.h"
#include "tensor_access.h"

AB_CPU_NS_BEGIN
namespace {

// Keys per tile. Longer tiles amortise the O^T load/rescale/store of the P V
// microkernel (measured, d=128 fp32 L=4096, 1 thread: 48 -> 331 ms, 96 -> 235 ms,
// 192 -> 220 ms, 384 -> 214 ms causal); 192 keeps the S^T tile (24 KiB) in L1.
constexpr int kTileK = 192;

struct FlashScratch {
  ScratchF32 qt, st, ot, kt, vt, row, pt;
};
thread_local FlashScratch tls_flash;
thread_local ScratchF32 tls_vpairs;  // bf16 path: V in key pairs, of the calling thread

/// Softcap, mask and the online-softmax update of one S^T tile of nk keys, in
/// place (S^T becomes P^T). Returns the accumulator rescale factors in alpha.
void softmax_tile(float* st, int nk, int k0, bool need_mask, float softcap2,
                  const GroupRanges& g, float* m, float* l, V16 alpha[2]) {
  for (int half = 0; half < 2; ++half) {
    float* s = st + half * 16;
    const V16 m_old = v_load(m + half * 16);
    V16 mx = m_old;
    if (softcap2 > 0.0f || need_mask) {
      const V16 cap = v_set1(softcap2), inv_cap = v_set1(1.0f / softcap2);
      for (int j = 0; j < nk; ++j) {
        V16 x = v_load(s + j * kQRows);
        if (softcap2 > 0.0f) x = v_mul(cap, v_tanh(v_mul(x, inv_cap)));
        if (need_mask) x = v_mask_rows(x, k0 + j, g.lo + half * 16, g.hi + half * 16);
        v_store(s + j * kQRows, x);
        mx = v_max(mx, x);
      }
    } else {
      for (int j = 0; j < nk; ++j) mx = v_max(mx, v_load(s + j * kQRows));
    }
    // A row that has seen no key yet keeps max -inf; subtracting 0 instead keeps
    // exp2(-inf - 0) = 0 rather than NaN.
    const V16 m_use = v_neg_inf_to_zero(mx);
    alpha[half] = v_exp2(v_sub(m_old, m_use));
    V16 sum0 = v_zero(), sum1 = v_zero();
    int j = 0;
    for (; j + 2 <= nk; j += 2) {
      const V16 p0 = v_exp2(v_sub(v_load(s + j * kQRows), m_use));
      const V16 p1 = v_exp2(v_sub(v_load(s + (j + 1) * kQRows), m_use));
      v_store(s + j * kQRows, p0);
      v_store(s + (j + 1) * kQRows, p1);
      sum0 = v_add(sum0, p0);
      sum1 = v_add(sum1, p1);
    }
    if (j < nk) {
      const V16 p = v_exp2(v_sub(v_load(s + j * kQRows), m_use));
      v_store(s + j * kQRows, p);
      sum0 = v_add(sum0, p);
    }
    v_store(l + half * 16, v_fmadd(v_load(l + half * 16), alpha[half], v_add(sum0, sum1)));
    v_store(m + half * 16, mx);
  }
}

/// Pointer to nk fp32 rows of K or V for keys [k0, k0 + nk): the tensor itself for
/// fp32, else a converted copy in `buf`.
template <ab_dtype DT>
const float* kv_rows_f32(const void* base, size_t off, int nk, int d, ScratchF32& buf) {
  if constexpr (DT == AB_F32) {
    return static_cast<const float*>(base) + off;
  } else {
    float* dst = buf.get(static_cast<size_t>(kTileK) * d);
    for (int j = 0; j < nk; ++j) load_row_f32(DT, base, off + static_cast<size_t>(j) * d, dst + j * d, d);
    return dst;
  }
}

/// Normalises the accumulator O^T [dv][32] by l and stores rows [q0, q0 + nq) of (b, h)
/// (zeros for a row that saw no key); `row` is dv floats of scratch. With a.lse, also
/// each row's natural log-sum-exp of its logits, from the base-2 running max m and sum l
/// (-inf for a row that saw no key).
void store_output_rows(const ab_attention_args& a, int b, int h, int q0, int nq, const float* ot, const float* m,
                       const float* l, float* row) {
  const int dv = dv_of(a);
  float* lse = a.lse ? host_ptr<float>(a.lse) + (static_cast<size_t>(b) * a.heads_q + h) * a.len_q + q0 : nullptr;
  for (int i = 0; i < nq; ++i) {
    const size_t o_off = row_offset(b, h, q0 + i, a.heads_q, a.len_q, dv);
    if (l[i] == 0.0f) {  // no visible key
      store_zero_row(a.dtype, a.o, o_off, dv);
      if (lse) lse[i] = -INFINITY;
      continue;
    }
    const float inv = 1.0f / l[i];
    for (int t = 0; t < dv; ++t) row[t] = ot[t * kQRows + i] * inv;
    store_row(a.dtype, a.o, o_off, row, dv);
    if (lse) lse[i] = (m[i] + std::log2(l[i])) * kLn2;
  }
}

/// One work item: rows [q0, q0 + 32) of (b, h).
template <ab_dtype DT>
void flash_group(const ab_attention_args& a, int b, int h, int q0) {
  const int d = a.head_dim, dv = dv_of(a);
  const int lq = len_q_of(a, b), lk = len_k_of(a, b);
  const int nq = std::min(kQRows, lq - q0);
  if (nq <= 0) return;
  const int hk = kv_head_of(h, a.heads_q, a.heads_kv);
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  const GroupRanges g = group_ranges(mask, q0, nq, lq, lk);
  FlashScratch& s = tls_flash;

  // Q^T [d][32], pre-scaled into base-2 logits; padding lanes are zero.
  float* qt = s.qt.get(static_cast<size_t>(d) * kQRows);
  float* row = s.row.get(std::max(d, dv));
  std::fill(qt, qt + static_cast<size_t>(d) * kQRows, 0.0f);
  const float qscale = a.scale * kLog2e;
  for (int i = 0; i < nq; ++i) {
    load_row_f32(DT, a.q, row_offset(b, h, q0 + i, a.heads_q, a.len_q, d), row, d);
    for (int t = 0; t < d; ++t) qt[t * kQRows + i] = row[t] * qscale;
  }
  float* ot = s.ot.get(static_cast<size_t>(dv) * kQRows);
  std::fill(ot, ot + static_cast<size_t>(dv) * kQRows, 0.0f);
  float* st = s.st.get(static_cast<size_t>(kTileK) * kQRows);
  alignas(64) float m[kQRows], l[kQRows];
  std::fill(m, m + kQRows, -INFINITY);
  std::fill(l, l + kQRows, 0.0f);

  const float softcap2 = a.softcap > 0.0f ? a.softcap * kLog2e : 0.0f;
  const size_t k_base = row_offset(b, hk, 0, a.heads_kv, a.len_k, d);
  const size_t v_base = row_offset(b, hk, 0, a.heads_kv, a.len_k, dv);
  for (int k0 = g.walk_lo; k0 < g.walk_hi; k0 += kTileK) {
    const int nk = std::min(kTileK, g.walk_hi - k0);
    const float* kp = kv_rows_f32<DT>(a.k, k_base + static_cast<size_t>(k0) * d, nk, d, s.kt);
    score_tile(qt, d, kp, d, nk, st);
    const bool need_mask = !(k0 >= g.all_lo && k0 + nk <= g.all_hi);
    V16 alpha[2];
    softmax_tile(st, nk, k0, need_mask, softcap2, g, m, l, alpha);
    const float* vp = kv_rows_f32<DT>(a.v, v_base + static_cast<size_t>(k0) * dv, nk, dv, s.vt);
    value_tile(st, nk, vp, dv, dv, ot, alpha[0], alpha[1]);
  }
  store_output_rows(a, b, h, q0, nq, ot, m, l, row);
}

template <ab_dtype DT>
void flash_all(const ab_attention_args& a) {
  const int groups = (a.len_q + kQRows - 1) / kQRows;
  const int bh = a.batch * a.heads_q;
  const int items = groups * bh;
  // Heaviest groups first (under a causal mask the last query rows see the most
  // keys), so the work-stealing tail is made of cheap items.
  tbb::parallel_for(tbb::blocked_range<int>(0, items, 1), [&](const tbb::blocked_range<int>& r) {
    for (int idx = r.begin(); idx != r.end(); ++idx) {
      const int grp = groups - 1 - idx / bh;
      const int b = (idx % bh) / a.heads_q, h = idx % a.heads_q;
      flash_group<DT>(a, b, h, grp * kQRows);
    }
  });
}

#if defined(__AVX512BF16__)
/// One work item of the bf16 path on VDPBF16PS: rows [q0, q0 + 32) of (b, h). K is read
/// in place, V from `vpairs` (this KV head's keys packed in pairs), logits are scaled
/// after the dot products (Q stays exact bf16), P is rounded to bf16 for the P V product.
void flash_group_bf16(const ab_attention_args& a, int b, int h, int q0, const uint32_t* vpairs) {
  const int d = a.head_dim, d2 = d / 2, dv = dv_of(a);
  const int lq = len_q_of(a, b), lk = len_k_of(a, b);
  const int nq = std::min(kQRows, lq - q0);
  if (nq <= 0) return;
  const int hk = kv_head_of(h, a.heads_q, a.heads_kv);
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  const GroupRanges g = group_ranges(mask, q0, nq, lq, lk);
  FlashScratch& s = tls_flash;

  // Q^T in dim pairs [d/2][32] (32-bit words of the bf16 rows); padding lanes are zero.
  uint32_t* qt2 = reinterpret_cast<uint32_t*>(s.qt.get(static_cast<size_t>(d2) * kQRows));
  std::fill(qt2, qt2 + static_cast<size_t>(d2) * kQRows, 0u);
  const uint16_t* q = host_ptr<const uint16_t>(a.q);
  for (int i = 0; i < nq; ++i) {
    const uint16_t* row = q + row_offset(b, h, q0 + i, a.heads_q, a.len_q, d);
    for (int t = 0; t < d2; ++t) std::memcpy(qt2 + t * kQRows + i, row + 2 * t, sizeof(uint32_t));
  }
  float* ot = s.ot.get(static_cast<size_t>(dv) * kQRows);
  std::fill(ot, ot + static_cast<size_t>(dv) * kQRows, 0.0f);
  float* st = s.st.get(static_cast<size_t>(kTileK) * kQRows);
  uint32_t* pt2 = reinterpret_cast<uint32_t*>(s.pt.get(static_cast<size_t>(kTileK / 2) * kQRows));
  alignas(64) float m[kQRows], l[kQRows];
  std::fill(m, m + kQRows, -INFINITY);
  std::fill(l, l + kQRows, 0.0f);

  const float qscale = a.scale * kLog2e;
  const float softcap2 = a.softcap > 0.0f ? a.softcap * kLog2e : 0.0f;
  const uint16_t* kbase = host_ptr<const uint16_t>(a.k) + row_offset(b, hk, 0, a.heads_kv, a.len_k, d);
  // Tiles start at even keys, so that they line up with V's key pairs; a key before
  // walk_lo is masked like any key outside a row's range.
  for (int k0 = g.walk_lo & ~1; k0 < g.walk_hi; k0 += kTileK) {
    const int nk = std::min(kTileK, g.walk_hi - k0);
    score_tile_bf16(qt2, d2, kbase + static_cast<size_t>(k0) * d, d, nk, st, qscale);
    const bool need_mask = !(k0 >= g.all_lo && k0 + nk <= g.all_hi);
    V16 alpha[2];
    softmax_tile(st, nk, k0, need_mask, softcap2, g, m, l, alpha);
    pack_p_bf16(st, nk, pt2);
    value_tile_bf16(pt2, (nk + 1) / 2, vpairs + static_cast<size_t>(k0 / 2) * dv, dv, ot, alpha[0], alpha[1]);
  }
  store_output_rows(a, b, h, q0, nq, ot, m, l, s.row.get(dv));
}

/// The bf16 path over all work items: V of every (batch, KV head) packed in key pairs
/// first (O(len_k * d), shared by all query heads of the group), then the groups.
void flash_all_bf16(const ab_attention_args& a) {
  const int dv = dv_of(a), pairs = (a.len_k + 1) / 2;
  const size_t per_head = static_cast<size_t>(pairs) * dv;
  const int bhk = a.batch * a.heads_kv;
  uint32_t* vp = reinterpret_cast<uint32_t*>(tls_vpairs.get(std::max<size_t>(1, per_head * bhk)));
  const uint16_t* v = host_ptr<const uint16_t>(a.v);
  constexpr int kPackPairs = 256;  // key pairs per packing task
  const int chunks = (pairs + kPackPairs - 1) / kPackPairs;
  tbb::parallel_for(0, bhk * chunks, [&](int idx) {
    const int bh = idx / chunks, c = idx % chunks;
    const int t0 = c * kPackPairs, t1 = std::min(pairs, t0 + kPackPairs);
    const int rows = std::min(a.len_k, 2 * t1) - 2 * t0;
    pack_v_pairs(v + (static_cast<size_t>(bh) * a.len_k + 2 * t0) * dv, rows, dv,
                 vp + static_cast<size_t>(bh) * per_head + static_cast<size_t>(t0) * dv);
  });
  const int groups = (a.len_q + kQRows - 1) / kQRows;
  const int bh = a.batch * a.heads_q;
  tbb::parallel_for(tbb::blocked_range<int>(0, groups * bh, 1), [&](const tbb::blocked_range<int>& r) {
    for (int idx = r.begin(); idx != r.end(); ++idx) {
      const int grp = groups - 1 - idx / bh;
      const int b = (idx % bh) / a.heads_q, h = idx % a.heads_q;
      const int hk = kv_head_of(h, a.heads_q, a.heads_kv);
      flash_group_bf16(a, b, h, grp * kQRows, vp + (static_cast<size_t>(b) * a.heads_kv + hk) * per_head);
    }
  });
}
#endif

}  // namespace

void flash_attention(const ab_attention_args& a) {
  if (a.batch <= 0 || a.len_q <= 0) return;
  switch (a.dtype) {
    case AB_F32: flash_all<AB_F32>(a); break;
    case AB_BF16:
#if defined(__AVX512BF16__)
      // VDPBF16PS pairs the reduction dims: an odd head_dim takes the fp32 path.
      if (a.head_dim % 2 == 0 && a.len_k > 0) { flash_all_bf16(a); break; }
#endif
      flash_all<AB_BF16>(a);
      break;
    case AB_F16: flash_all<AB_F16>(a); break;
  }
}

AB_CPU_NS_END

// Register-blocked microkernels of the decode CPU kernel: 4 query rows x 16 keys.
// The head dimension lives in the vector lanes (decode has few query rows, so
// lanes over rows would sit mostly idle), and each K or V vector is loaded and
// widened to fp32 once, then used by all 4 rows: per 16 FMAs there are 4 K/V
// loads, 4 Q or P loads, and 4 widenings for 16-bit storage. Keeping the work per
// byte low lets the core keep up with memory.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

#include "simd16.h"

AB_CPU_NS_BEGIN

/// Query rows per register block.
inline constexpr int kDecodeRows = 4;
/// Keys per block: one V16 of scores per query row.
inline constexpr int kDecodeKeys = 16;

/// 16 elements of a K/V row in storage type ST, starting at element i, as fp32.
template <ab_dtype ST>
inline V16 load_kv(const void* row, int i) {
  return v_load_as_f32<ST>(static_cast<const char*>(row) + static_cast<size_t>(i) * (ST == AB_F32 ? 4 : 2));
}

/// Scores of 4 query rows against 16 keys: sc[r * 16 + j] = q_r . k_j.
/// q holds 4 rows of nv * 16 fp32 (stride q_stride); k holds 16 row pointers.
/// Works on 4 keys at a time: 16 accumulators (row, key), one transpose-add each.
/// pf (or NULL): rows of the next key block, prefetched into L1 a line per row per
/// step. Spreading the prefetches through the FMAs keeps memory busy while the
/// core computes; a burst at the block start or a longer distance measured slower.
template <ab_dtype ST>
inline void decode_scores(const float* q, size_t q_stride, const void* const (&k)[kDecodeKeys], int nv,
                          float* sc, const char* const* pf, int pf_bytes) {
  for (int k0 = 0; k0 < kDecodeKeys; k0 += 4) {
    V16 acc[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = v_zero();
    for (int v = 0; v < nv; ++v) {
      if (pf && 64 * v < pf_bytes)
        for (int j = 0; j < 4; ++j)
          if (pf[k0 + j]) __builtin_prefetch(pf[k0 + j] + 64 * v, 0, 3);
      V16 kv[4];
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) kv[j] = load_kv<ST>(k[k0 + j], 16 * v);
#pragma GCC unroll 4
      for (int r = 0; r < 4; ++r) {
        const V16 qv = v_load(q + r * q_stride + 16 * v);
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) acc[r * 4 + j] = v_fmadd(qv, kv[j], acc[r * 4 + j]);
      }
    }
    alignas(64) float s[16];
    v_store(s, v_reduce16(acc));  // lane r * 4 + j: row r, key k0 + j
    for (int r = 0; r < 4; ++r) std::memcpy(sc + r * kDecodeKeys + k0, s + r * 4, 4 * sizeof(float));
  }
}

/// NU vectors of the accumulators of 4 rows: o_r = o_r * alpha_r + sum_j p[r][j] v_j.
template <ab_dtype ST, int NU>
inline void decode_values_block(float* o, size_t o_stride, const float* alpha, const float* p,
                                const void* const (&v)[kDecodeKeys], int nk, int u0,
                                const char* const* pf, int pf_bytes) {
  V16 acc[4][NU];
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r) {
    const V16 al = v_set1(alpha[r]);
#pragma GCC unroll 4
    for (int u = 0; u < NU; ++u) acc[r][u] = v_mul(v_load(o + r * o_stride + 16 * (u0 + u)), al);
  }
  for (int j = 0; j < nk; ++j) {
    if (pf && pf[j])
      for (int b = 0; b < pf_bytes; b += 64) __builtin_prefetch(pf[j] + b, 0, 3);
    V16 vv[NU];
#pragma GCC unroll 4
    for (int u = 0; u < NU; ++u) vv[u] = load_kv<ST>(v[j], 16 * (u0 + u));
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      const V16 pr = v_set1(p[r * kDecodeKeys + j]);
#pragma GCC unroll 4
      for (int u = 0; u < NU; ++u) acc[r][u] = v_fmadd(pr, vv[u], acc[r][u]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r)
#pragma GCC unroll 4
    for (int u = 0; u < NU; ++u) v_store(o + r * o_stride + 16 * (u0 + u), acc[r][u]);
}

/// P V for 4 rows over all nv vectors of the head dim, 4 vectors at a time.
/// pf (or NULL): rows of the next V block, prefetched during the first pass.
template <ab_dtype ST>
inline void decode_values(float* o, size_t o_stride, const float* alpha, const float* p,
                          const void* const (&v)[kDecodeKeys], int nk, int nv, const char* const* pf,
                          int pf_bytes) {
  int u = 0;
  for (; u + 4 <= nv; u += 4, pf = nullptr) decode_values_block<ST, 4>(o, o_stride, alpha, p, v, nk, u, pf, pf_bytes);
  switch (nv - u) {
    case 3: decode_values_block<ST, 3>(o, o_stride, alpha, p, v, nk, u, pf, pf_bytes); break;
    case 2: decode_values_block<ST, 2>(o, o_stride, alpha, p, v, nk, u, pf, pf_bytes); break;
    case 1: decode_values_block<ST, 1>(o, o_stride, alpha, p, v, nk, u, pf, pf_bytes); break;
    default: break;
  }
}

/// Online-softmax update of one row for a block of 16 scores (in place: the
/// scores become probabilities); returns the accumulator rescale factor.
inline float decode_softmax_row(float* s, float* lsum, float& m, int k0, int nk, int lo, int hi, bool need_mask,
                                float softcap2) {
  V16 sc = v_load(s);
  if (softcap2 > 0.0f) sc = v_mul(v_set1(softcap2), v_tanh(v_mul(sc, v_set1(1.0f / softcap2))));
  if (need_mask) sc = v_mask_keys(sc, k0, lo, std::min(hi, k0 + nk));
  const float mx = std::max(m, v_reduce_max(sc));
  const float m_use = mx == -INFINITY ? 0.0f : mx;  // all masked so far: no -inf - -inf
  const float alpha = v_reduce_max(v_exp2(v_set1(m - m_use)));
  const V16 p = v_exp2(v_sub(sc, v_set1(m_use)));
  v_store(s, p);
  v_store(lsum, v_fmadd(v_load(lsum), v_set1(alpha), p));
  m = mx;
  return alpha;
}

AB_CPU_NS_END

// bf16 microkernels of the flash kernel on AVX512-BF16 (the avx512bf16 level only).
// VDPBF16PS multiplies pairs of bf16 and adds both products into one fp32 lane, so the
// reduction dimension travels in pairs: S^T = K Q^T pairs head dims (K rows as they are,
// Q^T packed [d/2][32 lanes] of dim pairs), O^T += V^T P^T pairs keys (P^T packed
// [keys/2][32 lanes] of key pairs, V packed once per KV head as [keys/2][d] key pairs).
// Same register blocking as the fp32 microkernels (flash_microkernel.h): query rows in
// the lanes of two vectors, one 32-bit broadcast per output row and pair step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "flash_microkernel.h"

#if defined(__AVX512BF16__)
AB_CPU_NS_BEGIN

/// The 32-bit pair at p (two bf16), broadcast to all 16 lanes.
inline __m512bh bcast_pair(const void* p) {
  int32_t x;
  std::memcpy(&x, p, sizeof x);
  return (__m512bh)_mm512_set1_epi32(x);
}

/// S^T rows for NJ keys, scaled: st[j][i] = scale * sum_t k[j*ldk + t] * q_i[t], over
/// d2 dim pairs; qt2 is Q^T packed [d2][32] pairs, k the first key's bf16 row.
template <int NJ>
inline void score_block_bf16(const uint32_t* __restrict qt2, int d2, const uint16_t* __restrict k,
                             ptrdiff_t ldk, float* __restrict st, __m512 scale) {
  __m512 c0[NJ], c1[NJ];
#pragma GCC unroll 16
  for (int j = 0; j < NJ; ++j) c0[j] = c1[j] = _mm512_setzero_ps();
  for (int t = 0; t < d2; ++t) {
    const __m512bh a0 = (__m512bh)_mm512_loadu_si512(qt2 + t * kQRows);
    const __m512bh a1 = (__m512bh)_mm512_loadu_si512(qt2 + t * kQRows + 16);
#pragma GCC unroll 16
    for (int j = 0; j < NJ; ++j) {
      const __m512bh b = bcast_pair(k + j * ldk + 2 * t);
      c0[j] = _mm512_dpbf16_ps(c0[j], b, a0);
      c1[j] = _mm512_dpbf16_ps(c1[j], b, a1);
    }
  }
#pragma GCC unroll 16
  for (int j = 0; j < NJ; ++j) {
    _mm512_storeu_ps(st + j * kQRows, _mm512_mul_ps(c0[j], scale));
    _mm512_storeu_ps(st + j * kQRows + 16, _mm512_mul_ps(c1[j], scale));
  }
}

/// O^T rows for NJ head dims: ot[j] = ot[j] * alpha + sum over n2 key pairs of
/// vp[t][j] . pt2[t]; vp points at the packed V pairs of the first key pair and dim,
/// ldv is the packed row length (d).
template <int NJ>
inline void value_block_bf16(const uint32_t* __restrict pt2, int n2, const uint32_t* __restrict vp,
                             ptrdiff_t ldv, float* __restrict ot, __m512 alpha0, __m512 alpha1) {
  __m512 c0[NJ], c1[NJ];
#pragma GCC unroll 16
  for (int j = 0; j < NJ; ++j) {
    c0[j] = _mm512_mul_ps(_mm512_loadu_ps(ot + j * kQRows), alpha0);
    c1[j] = _mm512_mul_ps(_mm512_loadu_ps(ot + j * kQRows + 16), alpha1);
  }
  for (int t = 0; t < n2; ++t) {
    const __m512bh a0 = (__m512bh)_mm512_loadu_si512(pt2 + t * kQRows);
    const __m512bh a1 = (__m512bh)_mm512_loadu_si512(pt2 + t * kQRows + 16);
    const uint32_t* vr = vp + t * ldv;
#pragma GCC unroll 16
    for (int j = 0; j < NJ; ++j) {
      const __m512bh b = bcast_pair(vr + j);
      c0[j] = _mm512_dpbf16_ps(c0[j], b, a0);
      c1[j] = _mm512_dpbf16_ps(c1[j], b, a1);
    }
  }
#pragma GCC unroll 16
  for (int j = 0; j < NJ; ++j) {
    _mm512_storeu_ps(ot + j * kQRows, c0[j]);
    _mm512_storeu_ps(ot + j * kQRows + 16, c1[j]);
  }
}

/// S^T for nk keys (any count), scaled by `scale`.
inline void score_tile_bf16(const uint32_t* qt2, int d2, const uint16_t* k, ptrdiff_t ldk, int nk, float* st,
                            float scale) {
  const __m512 s = _mm512_set1_ps(scale);
  int j = 0;
  for (; j + kRegBlock <= nk; j += kRegBlock)
    score_block_bf16<kRegBlock>(qt2, d2, k + j * ldk, ldk, st + j * kQRows, s);
  if (j < nk)
    dispatch_block<kRegBlock>(nk - j, [&](auto nj) {
      score_block_bf16<decltype(nj)::value>(qt2, d2, k + j * ldk, ldk, st + j * kQRows, s);
    });
}

/// O^T = O^T * alpha + V^T P^T over all d dims for n2 key pairs.
inline void value_tile_bf16(const uint32_t* pt2, int n2, const uint32_t* vp, int d, float* ot, V16 alpha0,
                            V16 alpha1) {
  int j = 0;
  for (; j + kRegBlock <= d; j += kRegBlock)
    value_block_bf16<kRegBlock>(pt2, n2, vp + j, d, ot + j * kQRows, alpha0.v, alpha1.v);
  if (j < d)
    dispatch_block<kRegBlock>(d - j, [&](auto nj) {
      value_block_bf16<decltype(nj)::value>(pt2, n2, vp + j, d, ot + j * kQRows, alpha0.v, alpha1.v);
    });
}

/// P^T [nk][32] fp32 -> pt2 [ceil(nk/2)][32] key pairs of bf16 (round to nearest even);
/// an odd last key pairs with 0.
inline void pack_p_bf16(const float* st, int nk, uint32_t* pt2) {
  // vpermw indices: word 2i <- low half i (key 2t), word 2i+1 <- high half i (key 2t+1).
  alignas(64) static constexpr int16_t kIdx[32] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
                                                    8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i idx = _mm512_load_si512(kIdx);
  for (int t = 0; 2 * t < nk; ++t) {
    const float* p0 = st + 2 * t * kQRows;
    const bool pair = 2 * t + 1 < nk;
    for (int half = 0; half < 2; ++half) {
      const __m512 lo = _mm512_loadu_ps(p0 + half * 16);
      const __m512 hi = pair ? _mm512_loadu_ps(p0 + kQRows + half * 16) : _mm512_setzero_ps();
      const __m512i both = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);  // words 0-15: lo, 16-31: hi
      _mm512_storeu_si512(pt2 + t * kQRows + half * 16, _mm512_permutexvar_epi16(idx, both));
    }
  }
}

/// Packs V rows [n][d] (bf16) into key pairs vp[n/2 rounded up][d]: word 0 of vp[t][j] is
/// V[2t][j], word 1 is V[2t+1][j] (0 past row n).
inline void pack_v_pairs(const uint16_t* v, int n, int d, uint32_t* vp) {
  for (int t = 0; 2 * t < n; ++t) {
    const uint16_t* r0 = v + static_cast<size_t>(2 * t) * d;
    const bool pair = 2 * t + 1 < n;
    uint32_t* out = vp + static_cast<size_t>(t) * d;
    int j = 0;
    for (; j + 32 <= d; j += 32) {
      const __m512i a = _mm512_loadu_si512(r0 + j);
      const __m512i b = pair ? _mm512_loadu_si512(r0 + d + j) : _mm512_setzero_si512();
      // unpack works within 128-bit lanes; permute the 64-bit quarters back in order.
      const __m512i lo = _mm512_unpacklo_epi16(a, b), hi = _mm512_unpackhi_epi16(a, b);
      const __m512i i0 = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11), i1 = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
      _mm512_storeu_si512(out + j, _mm512_permutex2var_epi64(lo, i0, hi));
      _mm512_storeu_si512(out + j + 16, _mm512_permutex2var_epi64(lo, i1, hi));
    }
    for (; j < d; ++j) out[j] = r0[j] | (pair ? static_cast<uint32_t>(r0[d + j]) << 16 : 0u);
  }
}

AB_CPU_NS_END
#endif

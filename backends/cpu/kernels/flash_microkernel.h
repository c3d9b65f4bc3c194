// Register-blocked microkernels of the flash CPU kernel. Both products of a tile,
// S^T = K Q^T and O^T += V^T P^T, have the same shape: a block of NJ output rows,
// each 32 query lanes wide (two V16), accumulated as a sum of rank-1 updates
// "scalar broadcast x 32-lane vector". Keeping the query index in the lanes makes
// the softmax purely element-wise (no horizontal reductions) and lets K and V be
// read in their natural row-major layout (no transposed packing of K).
#pragma once

#include <cstddef>
#include <type_traits>

#include "simd16.h"

AB_CPU_NS_BEGIN

/// Query rows processed together: the lanes of two V16.
inline constexpr int kQRows = 32;

/// Calls f(std::integral_constant<int, n>) for a runtime n in [1, N].
template <int N, class F>
inline void dispatch_block(int n, F&& f) {
  if constexpr (N >= 1) {
    if (n == N) {
      f(std::integral_constant<int, N>{});
      return;
    }
    dispatch_block<N - 1>(n, f);
  }
}

/// S^T rows for NJ keys: st[j][0..31] = sum_t k[j*ldk + t] * qt[t][0..31], t < d.
/// qt is Q^T packed [d][32]; k points at the first key's row.
template <int NJ>
inline void score_block(const float* __restrict qt, int d, const float* __restrict k,
                        ptrdiff_t ldk, float* __restrict st) {
  V16 c0[NJ], c1[NJ];
#pragma GCC unroll 16
  for (int j = 0; j < NJ; ++j) c0[j] = c1[j] = v_zero();
  for (int t = 0; t < d; ++t) {
    const V16 a0 = v_load(qt + t * kQRows), a1 = v_load(qt + t * kQRows + 16);
#pragma GCC unroll 16
    for (int j = 0; j < NJ; ++j) {
      const V16 b = v_set1(k[j * ldk + t]);
      c0[j] = v_fmadd(b, a0, c0[j]);
      c1[j] = v_fmadd(b, a1, c1[j]);
    }
  }
#pragma GCC unroll 16
  for (int j = 0; j < NJ; ++j) {
    v_store(st + j * kQRows, c0[j]);
    v_store(st + j * kQRows + 16, c1[j]);
  }
}

/// O^T rows for NJ head dims: ot[j] = ot[j] * alpha + sum_t v[t*ldv + j] * pt[t], t < nk.
/// pt is P^T [nk][32]; v points at V[first key][first dim]; ot at O^T[first dim].
template <int NJ>
inline void value_block(const float* __restrict pt, int nk, const float* __restrict v,
                        ptrdiff_t ldv, float* __restrict ot, V16 alpha0, V16 alpha1) {
  V16 c0[NJ], c1[NJ];
#pragma GCC unroll 16
  for (int j = 0; j < NJ; ++j) {
    c0[j] = v_mul(v_load(ot + j * kQRows), alpha0);
    c1[j] = v_mul(v_load(ot + j * kQRows + 16), alpha1);
  }
  for (int t = 0; t < nk; ++t) {
    const V16 a0 = v_load(pt + t * kQRows), a1 = v_load(pt + t * kQRows + 16);
    const float* vr = v + t * ldv;
#pragma GCC unroll 16
    for (int j = 0; j < NJ; ++j) {
      const V16 b = v_set1(vr[j]);
      c0[j] = v_fmadd(b, a0, c0[j]);
      c1[j] = v_fmadd(b, a1, c1[j]);
    }
  }
#pragma GCC unroll 16
  for (int j = 0; j < NJ; ++j) {
    v_store(ot + j * kQRows, c0[j]);
    v_store(ot + j * kQRows + 16, c1[j]);
  }
}

/// S^T for nk keys (any count): full register blocks, then one smaller block.
inline void score_tile(const float* qt, int d, const float* k, ptrdiff_t ldk, int nk, float* st) {
  int j = 0;
  for (; j + kRegBlock <= nk; j += kRegBlock)
    score_block<kRegBlock>(qt, d, k + j * ldk, ldk, st + j * kQRows);
  if (j < nk)
    dispatch_block<kRegBlock>(nk - j, [&](auto nj) {
      score_block<decltype(nj)::value>(qt, d, k + j * ldk, ldk, st + j * kQRows);
    });
}

/// O^T = O^T * alpha + V^T P^T over all d head dims for nk keys.
inline void value_tile(const float* pt, int nk, const float* v, ptrdiff_t ldv, int d, float* ot,
                       V16 alpha0, V16 alpha1) {
  int j = 0;
  for (; j + kRegBlock <= d; j += kRegBlock)
    value_block<kRegBlock>(pt, nk, v + j, ldv, ot + j * kQRows, alpha0, alpha1);
  if (j < d)
    dispatch_block<kRegBlock>(d - j, [&](auto nj) {
      value_block<decltype(nj)::value>(pt, nk, v + j, ldv, ot + j * kQRows, alpha0, alpha1);
    });
}

AB_CPU_NS_END

// Register-blocked rank-1-update microkernel of the flash backward kernel. The three
// products that accumulate gradients, dV += P^T dO, dK += dS^T Q and dQ += dS K, all have
// the form C[m][lanes] += sum_t B(t, m) * A[t][lanes]: a broadcast of one scalar of B
// times a 32-lane row of A (head dims in lanes). B is read through two strides, so the
// same kernel reads the [keys][32 queries] tiles of P^T and dS^T either way round, and
// A and C are row-major rows of padded width (a multiple of 32, zero-filled).
#pragma once

#include <cstddef>

#include "flash_microkernel.h"

AB_CPU_NS_BEGIN

/// c[j*ldc + 0..31] += sum_{t<n} b[t*bt + j*bj] * a[t*lda + 0..31], for j < NJ.
template <int NJ>
inline void rank1_block(const float* __restrict a, ptrdiff_t lda, const float* __restrict b, ptrdiff_t bt,
                        ptrdiff_t bj, int n, float* __restrict c, ptrdiff_t ldc) {
  V16 c0[NJ], c1[NJ];
#pragma GCC unroll 16
  for (int j = 0; j < NJ; ++j) {
    c0[j] = v_load(c + j * ldc);
    c1[j] = v_load(c + j * ldc + 16);
  }
  for (int t = 0; t < n; ++t) {
    const V16 a0 = v_load(a + t * lda), a1 = v_load(a + t * lda + 16);
    const float* bt_row = b + t * bt;
#pragma GCC unroll 16
    for (int j = 0; j < NJ; ++j) {
      const V16 s = v_set1(bt_row[j * bj]);
      c0[j] = v_fmadd(s, a0, c0[j]);
      c1[j] = v_fmadd(s, a1, c1[j]);
    }
  }
#pragma GCC unroll 16
  for (int j = 0; j < NJ; ++j) {
    v_store(c + j * ldc, c0[j]);
    v_store(c + j * ldc + 16, c1[j]);
  }
}

/// C[j][0..width) += sum_{t<n} B(t, j) * A[t][0..width) for j < m, B(t, j) = b[t*bt + j*bj];
/// width is a multiple of 32 (the padded head dim).
inline void rank1_tile(const float* a, ptrdiff_t lda, const float* b, ptrdiff_t bt, ptrdiff_t bj, int n, int m,
                       int width, float* c, ptrdiff_t ldc) {
  for (int c0 = 0; c0 < width; c0 += kQRows) {
    int j = 0;
    for (; j + kRegBlock <= m; j += kRegBlock)
      rank1_block<kRegBlock>(a + c0, lda, b + j * bj, bt, bj, n, c + j * ldc + c0, ldc);
    if (j < m)
      dispatch_block<kRegBlock>(m - j, [&](auto nj) {
        rank1_block<decltype(nj)::value>(a + c0, lda, b + j * bj, bt, bj, n, c + j * ldc + c0, ldc);
      });
  }
}

AB_CPU_NS_END

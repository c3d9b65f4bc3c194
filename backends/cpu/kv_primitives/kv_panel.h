// Row-times-panel dot products shared by observation_scores and dot: the keys (or the
// rows of b) are packed transposed into panels of kPanelWidth keys, [dim][kPanelWidth]
// contiguous, so one microkernel step broadcasts one element of each of kPanelRows
// query rows and multiplies it into kPanelVecs key vectors. Each dot product is a
// sequential single-rounding FMA chain over the dimension, starting from 0: bit for bit
// the loop `dot += q[i] * k[i]` that the host methods compile to with -march=native.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kv_vec.h"

namespace attnbench::cpu::kv::AB_KV_ISA {

/// Floats of one packed panel.
inline size_t panel_floats(int dim) { return static_cast<size_t>(dim) * kPanelWidth; }
/// Panels for n keys.
inline int panel_count(int n) { return (n + kPanelWidth - 1) / kPanelWidth; }

/// Packs keys [i0, i0 + kPanelWidth) of a list into one panel: row(i) is the key's row
/// (dim floats); keys past n are zero. 16 keys x 16 dims at a time through a register
/// transpose (online methods pack a few hundred keys per call, thousands of calls).
template <class RowOf>
inline void pack_panel(RowOf&& row, int i0, int n, int dim, float* panel) {
  for (int v = 0; v < kPanelVecs; ++v) {
    const int k0 = i0 + 16 * v, cnt = std::max(0, std::min(16, n - k0));
    const float* rows[16];
    for (int i = 0; i < cnt; ++i) rows[i] = row(k0 + i);
    // Subset keys are scattered rows the hardware prefetcher cannot predict: fetch the
    // next 16 while these are transposed.
    for (int i = k0 + 16; i < std::min(n, k0 + 32); ++i)
      for (int t = 0; t < dim; t += 16) __builtin_prefetch(row(i) + t, 0, 3);
    for (int t0 = 0; t0 < dim; t0 += 16) {
      const int w = std::min(16, dim - t0);
      f32x16 blk[16];
      for (int i = 0; i < 16; ++i)
        blk[i] = i >= cnt ? f32x16{} : w == 16 ? load16(rows[i] + t0) : load16_partial(rows[i] + t0, w);
      transpose16(blk);
      for (int t = 0; t < w; ++t) store16(panel + static_cast<size_t>(t0 + t) * kPanelWidth + 16 * v, blk[t]);
    }
  }
}

/// s[r * lds + i] = q[r] . key i of the panel, for NR rows and the panel's kPanelWidth keys.
template <int NR>
inline void panel_dots(const float* const* q, int dim, const float* __restrict panel, float* s, size_t lds) {
  f32x16 acc[NR][kPanelVecs];
#pragma GCC unroll 8
  for (int r = 0; r < NR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kPanelVecs; ++v) acc[r][v] = f32x16{};
  for (int t = 0; t < dim; ++t) {
    f32x16 kv[kPanelVecs];
#pragma GCC unroll 4
    for (int v = 0; v < kPanelVecs; ++v) kv[v] = load16(panel + static_cast<size_t>(t) * kPanelWidth + 16 * v);
#pragma GCC unroll 8
    for (int r = 0; r < NR; ++r) {
      const f32x16 qb = splat(q[r][t]);
#pragma GCC unroll 4
      for (int v = 0; v < kPanelVecs; ++v) acc[r][v] = qb * kv[v] + acc[r][v];
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < NR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kPanelVecs; ++v) store16(s + r * lds + 16 * v, acc[r][v]);
}

/// Calls f(std::integral_constant<int, n>) for a runtime n in [1, N].
template <int N, class F>
inline void dispatch_rows(int n, F&& f) {
  if constexpr (N >= 1) {
    if (n == N) {
      f(std::integral_constant<int, N>{});
      return;
    }
    dispatch_rows<N - 1>(n, f);
  }
}

/// s[r * lds + i] = q[r] . key i for nr <= kPanelRows rows and the keys of panels
/// [0, np) (np * kPanelWidth values per row).
inline void rows_dots(const float* const* q, int nr, int dim, const float* panels, int np, float* s, size_t lds) {
  dispatch_rows<kPanelRows>(nr, [&](auto n) {
    for (int p = 0; p < np; ++p)
      panel_dots<decltype(n)::value>(q, dim, panels + p * panel_floats(dim), s + static_cast<size_t>(p) * kPanelWidth, lds);
  });
}

}  // namespace attnbench::cpu::kv::AB_KV_ISA

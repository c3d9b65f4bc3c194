// Backward-pass arithmetic and tiling shared by the CUDA/HIP backward kernels
// (backward_attention.cuh) and their CPU emulation (backward_emulation.cpp), so CPU tests
// check the tile shapes, the query range of a key block and the P / dS rule the device
// runs. C++17, host/device safe (AB_INLINE), no standard library beyond <math.h>.
#pragma once

#include <math.h>

#include "attnbench/attention_hooks.h"
#include "attnbench/device_compat.h"
#include "kernel_math.h"

namespace attnbench::gpu {

/// Tile shape of the flash backward kernel instantiated for head dims <= DMAX (64 or 128):
/// a block owns kKeys keys (their dK and dV rows stay in registers) and walks the query
/// rows that see them kRows at a time, with kThreads threads. Static shared memory, fp32:
/// K and V [kKeys][DMAX + 1] (padded: lanes read different keys at one column), Q and dO
/// [kRows][DMAX], P and dS [kRows][kKeys]: 40.5 KiB at DMAX 64, 42.3 KiB at DMAX 128, under
/// CUDA's 48 KiB static limit and HIP's 64 KiB, so no opt-in attribute is needed. The
/// smaller query tile at DMAX 128 is what keeps K and V resident for the whole block.
template <int DMAX>
struct BwdTile {
  static constexpr int kKeys = 32;
  static constexpr int kRows = DMAX <= 64 ? 32 : 8;
  static constexpr int kThreads = 128;
  static constexpr int kAcc = kKeys * DMAX / kThreads;   // dK (and dV) elements per thread
  static constexpr int kPairs = kRows * kKeys / kThreads; // (row, key) pairs per thread
  static constexpr int kDq = kRows * DMAX / kThreads;     // dQ elements per thread per tile
  static_assert(kKeys * DMAX % kThreads == 0 && kRows * kKeys % kThreads == 0 && kRows * DMAX % kThreads == 0,
                "every thread owns the same number of elements");
};

/// Side of naive backward's shared-memory tiles (blocks of kNaiveBwdTile^2 threads).
constexpr int kNaiveBwdTile = 16;

/// P and dS of one (query, key) pair.
struct BwdPair {
  float p, ds;
};

/// P = exp(logit - lse) from the raw dot q.k and the forward's natural-log LSE, and
/// dS = P (dP - D) from dP = dO.v and D = rowsum(dO * O). A masked pair is 0 in both
/// (its LSE may be -inf: a row without keys must not produce NaN).
AB_INLINE BwdPair bwd_p_ds(float qk, float dov, const LogitsHook& logits, float lse, float delta, bool visible) {
  if (!visible) return BwdPair{0.0f, 0.0f};
  const float p = expf(apply_logits(logits, qk) - lse);
  return BwdPair{p, p * (dov - delta)};
}

/// Query rows of one sequence that see at least one key of [k0, k1): the inverse of
/// tile_key_range. Both ends of a MaskHook range grow with the row, so the rows form one
/// interval [first row whose range ends after k0, first row whose range starts at or
/// after k1), found by two binary searches. Rows inside it may still be masked for some
/// keys of the block; callers test each pair.
AB_INLINE KeyRange queries_for_keys(const MaskHook& mask, int k0, int k1, int len_q, int len_k) {
  if (k0 >= k1 || len_q <= 0) return KeyRange{0, 0};
  int lo = 0, hi = len_q;
  while (lo < hi) {
    const int mid = lo + (hi - lo) / 2;
    if (mask.keys_for(mid, len_q, len_k).hi > k0) hi = mid;
    else lo = mid + 1;
  }
  const int first = lo;
  hi = len_q;
  while (lo < hi) {
    const int mid = lo + (hi - lo) / 2;
    if (mask.keys_for(mid, len_q, len_k).lo >= k1) hi = mid;
    else lo = mid + 1;
  }
  return KeyRange{first, lo};
}

}  // namespace attnbench::gpu

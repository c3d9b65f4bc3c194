// topk: the k largest of n scores per row (ab_kv_topk_args), positions [0, force_head)
// and [n - force_tail, n) always kept, ties to the lower position, output ascending.
// Each candidate becomes one 64-bit key (descending-order bits of the score, then the
// position), so std::nth_element on plain integers does the selection with the exact
// tie rule of the host methods' top_with(). -0 ranks as +0; NaN ranks below every number.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kv_isa.h"

namespace attnbench::cpu::kv {
namespace {

thread_local std::vector<uint64_t> tl_keys;

/// Smaller for larger scores; equal scores give equal values.
uint32_t descending_bits(float x) {
  if (x != x) return 0xffffffffu;  // NaN last
  if (x == 0.0f) x = 0.0f;         // -0 == +0
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  const uint32_t ascending = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return ~ascending;
}

void topk_row(const float* s, int n, int k, int fh, int ft, int32_t* out) {
  const int m = k - fh - ft, lo = fh, hi = n - ft;
  int o = 0;
  for (int i = 0; i < fh; ++i) out[o++] = i;
  if (m > 0) {
    if (tl_keys.size() < static_cast<size_t>(hi - lo)) tl_keys.resize(hi - lo);
    uint64_t* keys = tl_keys.data();
    for (int i = lo; i < hi; ++i) keys[i - lo] = (static_cast<uint64_t>(descending_bits(s[i])) << 32) | static_cast<uint32_t>(i);
    if (m < hi - lo) std::nth_element(keys, keys + m, keys + (hi - lo));
    for (int i = 0; i < m; ++i) out[o + i] = static_cast<int32_t>(keys[i] & 0xffffffffu);
    std::sort(out + o, out + o + m);
    o += m;
  }
  for (int i = n - ft; i < n; ++i) out[o++] = i;
}

}  // namespace

void topk_kernel(const ab_kv_topk_args& a) {
  const float* s = static_cast<const float*>(static_cast<const void*>(a.scores));
  int32_t* out = static_cast<int32_t*>(static_cast<void*>(a.out));
  auto row = [&](int r) { topk_row(s + static_cast<size_t>(r) * a.n, a.n, a.k, a.force_head, a.force_tail, out + static_cast<size_t>(r) * a.k); };
  if (a.rows == 1 || static_cast<double>(a.rows) * a.n < 65536) {
    for (int r = 0; r < a.rows; ++r) row(r);
    return;
  }
  tbb::parallel_for(0, a.rows, row);
}

}  // namespace attnbench::cpu::kv

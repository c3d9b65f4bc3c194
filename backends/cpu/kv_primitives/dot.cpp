// dot: batched inner products out[b][i][j] = a[b][i] . b[b][j] (ab_kv_dot_args), for
// methods that cluster or probe. The rows of b are packed into panels once per batch
// and every block of rows of a runs the panel microkernel (kv_panel.h) over them, so
// each product is the same sequential fp32 FMA chain as observation_scores' logits.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kv_isa.h"
#include "kv_panel.h"
#include "kv_scratch.h"

namespace attnbench::cpu::kv::AB_KV_ISA {
namespace {

constexpr int kRowBlock = 8 * kPanelRows;  // rows of a per task
constexpr double kSerialWork = 1 << 22;

thread_local std::vector<float> tl_panels, tl_s;

}  // namespace

void dot(const ab_kv_dot_args& a) {
  const int m = a.m, n = a.n, dim = a.dim, np = panel_count(n), ldp = np * kPanelWidth;
  const float* A = static_cast<const float*>(static_cast<const void*>(a.a));
  const float* B = static_cast<const float*>(static_cast<const void*>(a.b));
  float* out = static_cast<float*>(static_cast<void*>(a.out));
  const size_t per_batch = static_cast<size_t>(np) * panel_floats(dim);
  std::vector<float> own;
  float* panels = scratch(tl_panels, own, a.batch * per_batch);
  auto pack = [&](int t) {
    const int b = t / np, p = t % np;
    auto row = [&](int i) { return B + (static_cast<size_t>(b) * n + i) * dim; };
    pack_panel(row, p * kPanelWidth, n, dim, panels + b * per_batch + p * panel_floats(dim));
  };
  const int blocks = (m + kRowBlock - 1) / kRowBlock;
  auto rows = [&](int t) {
    const int b = t / blocks, i0 = t % blocks * kRowBlock, i1 = std::min(m, i0 + kRowBlock);
    if (tl_s.size() < static_cast<size_t>(kPanelRows) * ldp) tl_s.resize(static_cast<size_t>(kPanelRows) * ldp);
    float* s = tl_s.data();
    for (int i = i0; i < i1; i += kPanelRows) {
      const int nr = std::min(kPanelRows, i1 - i);
      const float* q[kPanelRows];
      for (int r = 0; r < nr; ++r) q[r] = A + (static_cast<size_t>(b) * m + i + r) * dim;
      rows_dots(q, nr, dim, panels + b * per_batch, np, s, ldp);
      for (int r = 0; r < nr; ++r)
        std::memcpy(out + (static_cast<size_t>(b) * m + i + r) * n, s + static_cast<size_t>(r) * ldp, sizeof(float) * n);
    }
  };
  if (static_cast<double>(a.batch) * m * n * dim < kSerialWork) {
    for (int t = 0; t < a.batch * np; ++t) pack(t);
    for (int t = 0; t < a.batch * blocks; ++t) rows(t);
    return;
  }
  tbb::parallel_for(0, a.batch * np, pack);
  tbb::parallel_for(0, a.batch * blocks, rows);
}

}  // namespace attnbench::cpu::kv::AB_KV_ISA

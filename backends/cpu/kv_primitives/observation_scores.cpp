// observation_scores: per (KV head, key) scores from the softmax attention of a set of
// observation queries (ab_kv_score_args). One pass computes, per observation row, the
// fp32 logits of every key the row sees (kv_panel.h: the same FMA chain as the host
// methods), then softmax and accumulation in fp64 (vectorised exp), as
// kv_common.cpp's accumulated_attention does; the output is rounded to f32 last.
//
// Work is split into fixed chunks of observation rows per query head, each summing into
// its own fp64 partial row; partials are reduced in a fixed order, so the scores do not
// depend on the thread count. h2o over a whole prompt (n_obs = len_k, causal) is one
// full causal attention pass that emits column sums. Small calls (online methods: one
// row over a key subset per head) run on the calling thread with reused scratch.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kv_isa.h"
#include "kv_panel.h"
#include "kv_scratch.h"

namespace attnbench::cpu::kv::AB_KV_ISA {
namespace {

constexpr int kChunkRows = 256;         // observation rows per task
constexpr double kSerialWork = 1 << 22;  // multiply-adds below which no task is spawned

thread_local std::vector<float> tl_panels, tl_s;
thread_local std::vector<double> tl_part, tl_e, tl_acc;

/// Softmax of one row's n logits s (fp32 dots) scaled in fp64, added to col as
/// w * p (SUM) or maxed into it (MAX). e: scratch of round_up(n, 8) doubles; col has
/// round_up(n, 8) entries (lanes past n add 0).
void softmax_accumulate(const float* s, int n, double scale, double w, bool row_max, double* e, double* col) {
  f64x8 mx = splat(-std::numeric_limits<double>::infinity());
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const f64x8 x = load8_f32(s + i) * scale;
    store8(e + i, x);
    mx = vmax(mx, x);
  }
  if (i < n) {
    const i64x8 lane = {0, 1, 2, 3, 4, 5, 6, 7};
    f64x8 x = load8_f32(s + i) * scale;
    x = lane < static_cast<int64_t>(n - i) ? x : splat(-std::numeric_limits<double>::infinity());
    store8(e + i, x);
    mx = vmax(mx, x);
    i += 8;
  }
  const double m = hmax(mx);
  f64x8 z = {};
  for (int u = 0; u < i; u += 8) {
    const f64x8 ev = exp_f64(load8(e + u) - m);
    store8(e + u, ev);
    z += ev;
  }
  const double zs = hsum(z);
  if (!row_max) {
    const double wt = w / zs;
    for (int u = 0; u < i; u += 8) store8(col + u, wt * load8(e + u) + load8(col + u));
  } else {
    for (int u = 0; u < i; u += 8) store8(col + u, vmax(load8(col + u), load8(e + u) / zs));
  }
}

struct Call {
  const ab_kv_score_args& a;
  int g, d, nk_pad, nchunks;
  size_t panels_per_head;
  const float* k;
  const float* q;
  float* panels;
  double* part;

  int nk(int j) const { return a.keys ? a.key_count[j] : a.len_k; }
  const int32_t* pos(int j) const { return a.keys ? a.keys + static_cast<size_t>(j) * a.keys_stride : nullptr; }
  /// Keys of head j that observation row r sees: a prefix of the ascending key list.
  int limit(int j, int r) const {
    const int n = nk(j);
    if (!a.q_pos) return n;
    const int32_t qp = a.q_pos[r];
    if (!a.keys) return static_cast<int>(std::clamp<int64_t>(static_cast<int64_t>(qp) + 1, 0, n));
    const int32_t* p = pos(j);
    return static_cast<int>(std::upper_bound(p, p + n, qp) - p);
  }

  void pack(int j, int p) const {
    const float* kj = k + static_cast<size_t>(j) * a.len_k * d;
    const int32_t* pj = pos(j);
    auto row = [&](int i) { return kj + static_cast<size_t>(pj ? pj[i] : i) * d; };
    pack_panel(row, p * kPanelWidth, nk(j), d, panels + j * panels_per_head + p * panel_floats(d));
  }

  /// Partial scores of query head h over observation rows of chunk c.
  void chunk(int h, int c) const {
    const int j = h / g;
    double* col = part + (static_cast<size_t>(h) * nchunks + c) * nk_pad;
    std::fill(col, col + nk_pad, 0.0);
    if (nk(j) == 0) return;
    if (tl_s.size() < static_cast<size_t>(kPanelRows) * nk_pad) tl_s.resize(static_cast<size_t>(kPanelRows) * nk_pad);
    float* s = tl_s.data();
    if (tl_e.size() < static_cast<size_t>(nk_pad)) tl_e.resize(nk_pad);
    double* e = tl_e.data();
    const bool row_max = a.row_reduce == AB_KV_MAX;
    const int r_end = std::min(a.n_obs, (c + 1) * kChunkRows);
    for (int rb = c * kChunkRows; rb < r_end; rb += kPanelRows) {
      const int nr = std::min(kPanelRows, r_end - rb);
      const float* qp[kPanelRows];
      int lim[kPanelRows], lmax = 0;
      for (int i = 0; i < nr; ++i) {
        qp[i] = q + (static_cast<size_t>(h) * a.q_rows + a.row0 + rb + i) * d;
        lim[i] = limit(j, rb + i);
        lmax = std::max(lmax, lim[i]);
      }
      if (lmax == 0) continue;
      rows_dots(qp, nr, d, panels + j * panels_per_head, panel_count(lmax), s, nk_pad);
      for (int i = 0; i < nr; ++i) {
        if (lim[i] == 0) continue;  // a row that sees no key adds nothing
        const double w = a.q_weight ? a.q_weight[rb + i] : 1.0;
        softmax_accumulate(s + static_cast<size_t>(i) * nk_pad, lim[i], a.scale, w, row_max, e, col);
      }
    }
  }

  /// Reduces the partials of KV head j over chunks and the GQA group, pools, writes f32.
  void finish(int j) const {
    const int n = nk(j);
    if (n == 0) return;
    if (tl_acc.size() < static_cast<size_t>(nk_pad)) tl_acc.resize(nk_pad);
    double* acc = tl_acc.data();
    const bool row_max = a.row_reduce == AB_KV_MAX, group_max = a.group_reduce == AB_KV_MAX;
    for (int hi = 0; hi < g; ++hi) {
      const double* ph = part + static_cast<size_t>(j * g + hi) * nchunks * nk_pad;
      for (int i = 0; i < n; ++i) {
        double v = ph[i];
        for (int c = 1; c < nchunks; ++c) {
          const double x = ph[static_cast<size_t>(c) * nk_pad + i];
          v = row_max ? std::max(v, x) : v + x;
        }
        acc[i] = hi == 0 ? v : group_max ? std::max(acc[i], v) : acc[i] + v;
      }
    }
    const int n_out = a.keys ? a.keys_stride : a.len_k;
    float* out = static_cast<float*>(static_cast<void*>(a.scores)) + static_cast<size_t>(j) * n_out;
    const int pe = a.pool > 1 ? (a.pool_end > 0 ? std::min(a.pool_end, n) : n) : 0;
    const int half = a.pool / 2;
    for (int i = 0; i < pe; ++i) {
      double m = acc[std::max(0, i - half)];
      for (int u = std::max(0, i - half) + 1; u <= std::min(pe - 1, i + half); ++u) m = std::max(m, acc[u]);
      out[i] = static_cast<float>(m);
    }
    for (int i = pe; i < n; ++i) out[i] = static_cast<float>(acc[i]);
  }
};

}  // namespace

void observation_scores(const ab_kv_score_args& a) {
  int nk_max = 0;
  for (int j = 0; j < a.heads_kv; ++j) nk_max = std::max(nk_max, a.keys ? a.key_count[j] : a.len_k);
  const int npan = panel_count(nk_max);
  std::vector<float> own_panels;
  std::vector<double> own_part;
  Call c{a, a.heads_q / a.heads_kv, a.head_dim, std::max(npan, 1) * kPanelWidth,
         (a.n_obs + kChunkRows - 1) / kChunkRows, static_cast<size_t>(npan) * panel_floats(a.head_dim),
         static_cast<const float*>(static_cast<const void*>(a.k)),
         static_cast<const float*>(static_cast<const void*>(a.q)), nullptr, nullptr};
  c.panels = scratch(tl_panels, own_panels, std::max<size_t>(1, a.heads_kv * c.panels_per_head));
  c.part = scratch(tl_part, own_part, static_cast<size_t>(a.heads_q) * c.nchunks * c.nk_pad);
  const double work = static_cast<double>(a.heads_q) * a.n_obs * nk_max * a.head_dim;
  const int ntasks = a.heads_q * c.nchunks;
  if (work < kSerialWork) {
    for (int j = 0; j < a.heads_kv; ++j)
      for (int p = 0; p < panel_count(c.nk(j)); ++p) c.pack(j, p);
    for (int h = 0; h < a.heads_q; ++h)
      for (int ch = 0; ch < c.nchunks; ++ch) c.chunk(h, ch);
    for (int j = 0; j < a.heads_kv; ++j) c.finish(j);
    return;
  }
  tbb::parallel_for(0, a.heads_kv * npan, [&](int t) {
    const int j = t / npan, p = t % npan;
    if (p < panel_count(c.nk(j))) c.pack(j, p);
  });
  // Later chunks see more keys under a causal mask: hand them out first.
  tbb::parallel_for(tbb::blocked_range<int>(0, ntasks, 1), [&](const tbb::blocked_range<int>& r) {
    for (int t = r.begin(); t < r.end(); ++t) c.chunk(t % a.heads_q, c.nchunks - 1 - t / a.heads_q);
  }, tbb::simple_partitioner());
  tbb::parallel_for(0, a.heads_kv, [&](int j) { c.finish(j); });
}

}  // namespace attnbench::cpu::kv::AB_KV_ISA

#include "topk_flexprefill.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <numeric>

#include "flash_microkernel.h"
#include "topk_common.h"

AB_CPU_NS_BEGIN
namespace {

struct FlexOptions {
  int block, sample;
  float gamma;
};

Check parse(const VariantOptions& options, FlexOptions& o) {
  o = {128, 8, 0.9f};
  VariantOptions ints;
  for (const auto& [key, value] : options) {
    if (key != "gamma") {
      if (key != "block" && key != "sample")
        return {AB_UNSUPPORTED, "flexprefill: unknown option '" + key + "' (options: block, sample, gamma)"};
      ints[key] = value;
      continue;
    }
    char* end = nullptr;
    errno = 0;
    const double g = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(g))
      return {AB_UNSUPPORTED, "flexprefill: option gamma='" + value + "' is not a number"};
    if (!(g > 0.0 && g <= 1.0))
      return {AB_UNSUPPORTED, "flexprefill: option gamma=" + value + " is outside (0, 1]"};
    o.gamma = static_cast<float>(g);
  }
  int v[2];
  Check c = topk::parse_int_options("flexprefill", ints, {{"block", 128, 1, 1 << 20}, {"sample", 8, 1, 1 << 20}}, v);
  o.block = v[0];
  o.sample = v[1];
  return c;
}

float tanh_f(float x) { return std::tanh(x); }

/// Adds to mass[j - j0] the mean softmax weight that query rows [first, r1) of `qb` give
/// the keys of block j (of B keys). The rows' logits are computed 32 at a time on the
/// flash microkernel (S^T = K Q^T over tiles of the union of their visible ranges), then
/// each row is normalised over its own range: the estimate is exact, only its cost is
/// that of the attention kernel rather than of one dot product per key.
void sampled_block_mass(const topk::QueryBlock& qb, const topk::KvF32& kv, const MaskHook& mask,
                        const LogitsHook& logits, int first, int B, int j0, std::vector<float>& mass) {
  constexpr int kTile = 64;
  const int d = qb.d, total = qb.r1 - first;
  thread_local ScratchF32 qt_buf, st_buf, score_buf;
  float* qt = qt_buf.get(static_cast<size_t>(d) * kQRows);
  float* st = st_buf.get(static_cast<size_t>(kTile) * kQRows);
  for (int c0 = first; c0 < qb.r1; c0 += kQRows) {
    const int rows = std::min(kQRows, qb.r1 - c0);
    KeyRange r[kQRows], all{qb.lk, 0};
    std::fill(qt, qt + static_cast<size_t>(d) * kQRows, 0.0f);
    for (int i = 0; i < rows; ++i) {
      r[i] = mask.keys_for(c0 + i, qb.lq, qb.lk);
      if (!r[i].empty()) all = {std::min(all.lo, r[i].lo), std::max(all.hi, r[i].hi)};
      const float* q = qb.row(c0 + i);
      for (int t = 0; t < d; ++t) qt[t * kQRows + i] = q[t];
    }
    if (all.empty()) continue;
    const size_t len = static_cast<size_t>(all.hi - all.lo);
    float* s = score_buf.get(len * rows);  // row i's logits at s[i * len + (t - all.lo)]
    for (int t0 = all.lo; t0 < all.hi; t0 += kTile) {
      const int n = std::min(kTile, all.hi - t0);
      score_tile(qt, d, kv.k(qb.b, qb.hk, t0), d, n, st);
      for (int j = 0; j < n; ++j)
        for (int i = 0; i < rows; ++i) s[i * len + (t0 - all.lo) + j] = st[j * kQRows + i];
    }
    for (int i = 0; i < rows; ++i) {
      if (r[i].empty()) continue;
      float* x = s + i * len + (r[i].lo - all.lo);
      const int n = r[i].hi - r[i].lo;
      // Base-2 logits, so the exponentials are exp2 on the vector unit.
      float m = -INFINITY;
      for (int t = 0; t < n; ++t) m = std::max(m, x[t] = logits.apply(x[t], tanh_f) * kLog2e);
      double sum = 0;
      int t = 0;
      for (; t + 16 <= n; t += 16) {
        const V16 p = v_exp2(v_sub(v_load(x + t), v_set1(m)));
        v_store(x + t, p);
        sum += v_reduce_add(p);
      }
      for (; t < n; ++t) sum += (x[t] = std::exp2(x[t] - m));
      const float w = static_cast<float>(1.0 / (sum * total));
      for (t = 0; t < n; ++t) mass[(r[i].lo + t) / B - j0] += x[t] * w;
    }
  }
}

}  // namespace

std::vector<int> flexprefill_select(const std::vector<float>& mass, float gamma, int local) {
  const int n = static_cast<int>(mass.size());
  std::vector<int> kept;
  if (gamma >= 1.0f) {
    kept.resize(n);
    std::iota(kept.begin(), kept.end(), 0);
    return kept;
  }
  double total = 0;
  for (float m : mass) total += m;
  const double target = gamma * total;
  double have = 0;
  if (local >= 0 && local < n) {
    kept.push_back(local);
    have = mass[local];
  }
  std::vector<int> order;
  for (int j = 0; j < n; ++j)
    if (j != local) order.push_back(j);
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return mass[x] > mass[y]; });
  for (int j : order) {
    if (have >= target) break;
    kept.push_back(j);
    have += mass[j];
  }
  std::sort(kept.begin(), kept.end());
  return kept;
}

Check flexprefill_supports(const ab_attention_args&, const VariantOptions& options) {
  FlexOptions o;
  return parse(options, o);
}

void flexprefill_run(const ab_attention_args& a, const VariantOptions& options) {
  FlexOptions o;
  parse(options, o);
  if (a.batch <= 0 || a.len_q <= 0) return;
  const int B = o.block;
  const topk::KvF32 kv(a);
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  const LogitsHook logits{a.scale, a.softcap};
  topk::attend_routed_blocks(a, B, [&](const topk::QueryBlock& qb) {
    std::vector<int> kept;
    if (qb.visible.empty()) return kept;
    // Blocks j0..j1-1 cover the union; the local block is always among the kept.
    const KeyRange all = qb.visible;
    const int j0 = std::min(all.lo / B, qb.local), j1 = std::max((all.hi + B - 1) / B, qb.local + 1);
    std::vector<float> mass(j1 - j0, 0.0f);
    if (o.gamma < 1.0f)
      sampled_block_mass(qb, kv, mask, logits, std::max(qb.r0, qb.r1 - o.sample), B, j0, mass);
    for (int j : flexprefill_select(mass, o.gamma, qb.local - j0)) kept.push_back(j + j0);
    return kept;
  });
}

AB_CPU_NS_END

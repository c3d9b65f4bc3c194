#include "topk_flexprefill.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <numeric>

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
  const int d = a.head_dim, B = o.block;
  const topk::KvF32 kv(a);
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  const LogitsHook logits{a.scale, a.softcap};
  topk::attend_routed_blocks(a, B, [&](const topk::QueryBlock& qb) {
    std::vector<int> kept;
    if (qb.visible.empty()) return kept;
    // Blocks j0..j1-1 cover the union; the local block is always among the kept.
    const KeyRange all = qb.visible;
    const int j0 = std::min(all.lo / B, qb.local), j1 = std::max((all.hi + B - 1) / B, qb.local + 1);
    std::vector<float> mass(j1 - j0, 0.0f), s;
    if (o.gamma < 1.0f) {
      const int first = std::max(qb.r0, qb.r1 - o.sample);
      for (int i = first; i < qb.r1; ++i) {
        const float* qi = qb.row(i);
        const KeyRange r = mask.keys_for(i, qb.lq, qb.lk);
        if (r.empty()) continue;
        s.resize(r.hi - r.lo);
        float m = -INFINITY;
        for (int t = r.lo; t < r.hi; ++t) {
          s[t - r.lo] = logits.apply(topk::dot(qi, kv.k(qb.b, qb.hk, t), d), tanh_f);
          m = std::max(m, s[t - r.lo]);
        }
        double sum = 0;
        for (float& x : s) sum += (x = std::exp(x - m));
        const float w = static_cast<float>(1.0 / (sum * (qb.r1 - first)));
        for (int t = r.lo; t < r.hi; ++t) mass[t / B - j0] += s[t - r.lo] * w;
      }
    }
    for (int j : flexprefill_select(mass, o.gamma, qb.local - j0)) kept.push_back(j + j0);
    return kept;
  });
}

AB_CPU_NS_END

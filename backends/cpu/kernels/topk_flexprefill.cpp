#include "topk_flexprefill.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <numeric>

#include "topk_common.h"

namespace attnbench::cpu {
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

  tbb::parallel_for(0, a.batch * a.heads_q, [&](int bh) {
    const int b = bh / a.heads_q, h = bh % a.heads_q, hk = kv_head_of(h, a.heads_q, a.heads_kv);
    const int lq = len_q_of(a, b), lk = len_k_of(a, b), off = lk - lq;
    if (lq <= 0) return;
    const int nkb = std::max(1, (lk + B - 1) / B);
    const int g0 = topk::floor_div(off, B), g1 = topk::floor_div(static_cast<long long>(lq) - 1 + off, B);
    tbb::parallel_for(g0, g1 + 1, [&](int g) {
      const int r0 = std::max(0, g * B - off), r1 = std::min(lq, (g + 1) * B - off);
      const int local = std::clamp(g, 0, nkb - 1);
      std::vector<float> q(static_cast<size_t>(r1 - r0) * d), out(d), scratch, s;
      for (int i = r0; i < r1; ++i)
        load_row_f32(a.dtype, a.q, row_offset(b, h, i, a.heads_q, a.len_q, d), q.data() + size_t(i - r0) * d, d);
      KeyRange all{lk, 0};  // union of the rows' visible ranges
      for (int i = r0; i < r1; ++i) {
        const KeyRange r = mask.keys_for(i, lq, lk);
        if (!r.empty()) all = {std::min(all.lo, r.lo), std::max(all.hi, r.hi)};
      }
      std::vector<int> kept;
      if (!all.empty()) {
        // Blocks j0..j1-1 cover the union; the local block is always among the kept.
        const int j0 = std::min(all.lo / B, local), j1 = std::max((all.hi + B - 1) / B, local + 1);
        std::vector<float> mass(j1 - j0, 0.0f);
        if (o.gamma < 1.0f) {
          const int first = std::max(r0, r1 - o.sample);
          for (int i = first; i < r1; ++i) {
            const float* qi = q.data() + size_t(i - r0) * d;
            const KeyRange r = mask.keys_for(i, lq, lk);
            if (r.empty()) continue;
            s.resize(r.hi - r.lo);
            float m = -INFINITY;
            for (int t = r.lo; t < r.hi; ++t) {
              s[t - r.lo] = logits.apply(topk::dot(qi, kv.k(b, hk, t), d), tanh_f);
              m = std::max(m, s[t - r.lo]);
            }
            double sum = 0;
            for (float& x : s) sum += (x = std::exp(x - m));
            const float w = static_cast<float>(1.0 / (sum * (r1 - first)));
            for (int t = r.lo; t < r.hi; ++t) mass[t / B - j0] += s[t - r.lo] * w;
          }
        }
        for (int j : flexprefill_select(mass, o.gamma, local - j0)) kept.push_back(j + j0);
      }
      for (int i = r0; i < r1; ++i) {
        const float* qi = q.data() + size_t(i - r0) * d;
        topk::attend_ranges(qi, kv, b, hk, d, logits, topk::kept_ranges(kept, B, mask.keys_for(i, lq, lk)), scratch,
                            out.data());
        store_row(a.dtype, a.o, row_offset(b, h, i, a.heads_q, a.len_q, d), out.data(), d);
      }
    });
  });
}

}  // namespace attnbench::cpu

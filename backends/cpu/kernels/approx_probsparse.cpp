#include "approx_probsparse.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "approx_limits.h"
#include "topk_common.h"

AB_CPU_NS_BEGIN
namespace {

constexpr uint64_t kSampleSeed = 0x496E666F726D6572ull;  // "Informer"

struct ProbOptions {
  int factor, sample;
};

Check parse(const VariantOptions& options, ProbOptions& o) {
  int v[2];
  Check c = topk::parse_int_options("probsparse", options, {{"factor", 5, 1, 1 << 20}, {"sample", 0, 0, 1 << 30}}, v);
  o = {v[0], v[1]};
  return c;
}

/// splitmix64 of one counter: the draws depend only on (batch, head, row, draw).
uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/// M(q) on `samples` keys drawn from r (row `row` of head (b, h)); -inf when r is empty.
float sparsity_measure(const float* q, const topk::KvF32& kv, int b, int h, int hk, int row, KeyRange r, int samples,
                       float scale, int d) {
  if (r.empty()) return -INFINITY;
  const uint64_t n = static_cast<uint64_t>(r.hi - r.lo);
  const uint64_t base = mix(kSampleSeed ^ mix((static_cast<uint64_t>(b) << 40) ^ (static_cast<uint64_t>(h) << 32) ^
                                              static_cast<uint32_t>(row)));
  float mx = -INFINITY;
  double sum = 0;
  for (int s = 0; s < samples; ++s) {
    const int j = r.lo + static_cast<int>(mix(base + static_cast<uint64_t>(s)) % n);
    const float x = scale * topk::dot(q, kv.k(b, hk, j), d);
    mx = std::max(mx, x);
    sum += x;
  }
  return mx - static_cast<float>(sum / samples);
}

}  // namespace

int probsparse_count(int factor, int n) {
  if (n <= 0) return 0;
  const double c = static_cast<double>(factor) * std::ceil(std::log(static_cast<double>(n)));
  return static_cast<int>(std::clamp(c, 1.0, static_cast<double>(n)));
}

Check probsparse_supports(const ab_attention_args& a, const VariantOptions& options) {
  ProbOptions o;
  if (Check c = parse(options, o); !c.ok()) return c;
  return approx_limits("probsparse", a, {.causal = true, .softcap = true, .varlen = true});
}

void probsparse_run(const ab_attention_args& a, const VariantOptions& options) {
  ProbOptions o;
  parse(options, o);
  if (a.batch <= 0 || a.len_q <= 0) return;
  const int d = a.head_dim;
  const topk::KvF32 kv(a);
  const MaskHook mask{a.causal, -1, -1};
  const LogitsHook logits{a.scale, a.softcap};
  tbb::parallel_for(0, a.batch * a.heads_q, [&](int bh) {
    const int b = bh / a.heads_q, h = bh % a.heads_q, hk = kv_head_of(h, a.heads_q, a.heads_kv);
    const int lq = len_q_of(a, b), lk = len_k_of(a, b);
    if (lq <= 0) return;
    const int u = probsparse_count(o.factor, lq);
    const int samples = o.sample > 0 ? o.sample : std::max(1, probsparse_count(o.factor, lk));
    std::vector<float> q(static_cast<size_t>(lq) * d), m(lq);
    for (int i = 0; i < lq; ++i) {
      float* qi = q.data() + static_cast<size_t>(i) * d;
      load_row_f32(a.dtype, a.q, row_offset(b, h, i, a.heads_q, a.len_q, d), qi, d);
      m[i] = sparsity_measure(qi, kv, b, h, hk, i, mask.keys_for(i, lq, lk), samples, a.scale, d);
    }
    std::vector<char> active(lq, 0);
    for (int i : topk::select_top_k(m.data(), lq, u)) active[i] = 1;
    // Rows in position order: the running sum of V follows each row's visible prefix.
    std::vector<double> vsum(d, 0.0);
    std::vector<float> out(d), scratch;
    int summed = 0;
    for (int i = 0; i < lq; ++i) {
      const KeyRange r = mask.keys_for(i, lq, lk);
      const size_t off = row_offset(b, h, i, a.heads_q, a.len_q, d);
      if (active[i]) {
        topk::attend_ranges(q.data() + static_cast<size_t>(i) * d, kv, b, hk, d, logits, {r}, scratch, out.data());
        store_row(a.dtype, a.o, off, out.data(), d);
        continue;
      }
      for (; summed < r.hi; ++summed) {
        const float* vr = kv.v(b, hk, summed);
        for (int t = 0; t < d; ++t) vsum[t] += vr[t];
      }
      if (r.empty()) {
        store_zero_row(a.dtype, a.o, off, d);
        continue;
      }
      for (int t = 0; t < d; ++t) out[t] = static_cast<float>(vsum[t] / r.hi);
      store_row(a.dtype, a.o, off, out.data(), d);
    }
  });
}

AB_CPU_NS_END

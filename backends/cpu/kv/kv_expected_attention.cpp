// expected_attention (KVPress, Devoto et al. 2025): model future queries as Gaussian
// N(mu, Sigma) fitted to the last `window` prompt queries; a key's expected unnormalised
// attention is E[exp(q.k/sqrt d)] = exp(mu.k/sqrt d + k^T Sigma k / (2d)). Keep the top
// budget by that score, summed over the GQA group. No attention matrix is formed.
#include <algorithm>
#include <cmath>

#include "kv_internal.h"

namespace attnbench::kv::detail {
namespace {

class ExpectedAttention final : public EvictionMethod {
 public:
  using EvictionMethod::EvictionMethod;
  bool needs_context_queries() const override { return true; }
  int32_t window() const { return static_cast<int32_t>(p_.geti("window", 64)); }
  std::string config() const override {
    return canonical("expected_attention", {{"budget", p_.geti("budget", 256)}, {"window", window()}, {"elem_bytes", elem_bytes()}});
  }
  CompressedCache compress(const KvInput& in) const override {
    validate(in, true);
    const int32_t b = budget_tokens(p_, in.len_k), Lk = in.len_k, d = in.head_dim, g = in.heads_q / in.heads_kv;
    const int32_t w = std::clamp(window(), 1, Lk), t0 = Lk - w;
    const double sd = std::sqrt(static_cast<double>(d));
    std::vector<std::vector<int32_t>> keep;
    for (int j = 0; j < in.heads_kv; ++j) {
      std::vector<double> logscore(Lk, -INFINITY);
      for (int h = j * g; h < (j + 1) * g; ++h) {
        // mu and the centred queries; k^T Sigma k = mean_t ((q_t - mu).k)^2.
        std::vector<double> mu(d, 0.0), cq(static_cast<size_t>(w) * d);
        for (int32_t t = t0; t < Lk; ++t)
          for (int i = 0; i < d; ++i) mu[i] += in.q_context[(static_cast<size_t>(h) * Lk + t) * d + i] / w;
        for (int32_t t = 0; t < w; ++t)
          for (int i = 0; i < d; ++i) cq[static_cast<size_t>(t) * d + i] = in.q_context[(static_cast<size_t>(h) * Lk + t0 + t) * d + i] - mu[i];
        for (int32_t p = 0; p < Lk; ++p) {
          const float* kr = in.k + (static_cast<size_t>(j) * Lk + p) * d;
          double m = 0, var = 0;
          for (int i = 0; i < d; ++i) m += mu[i] * kr[i];
          for (int32_t t = 0; t < w; ++t) {
            double x = 0;
            for (int i = 0; i < d; ++i) x += cq[static_cast<size_t>(t) * d + i] * kr[i];
            var += x * x / w;
          }
          const double ls = m / sd + var / (2.0 * d);
          const double hi = std::max(logscore[p], ls);  // log-sum-exp over the group
          logscore[p] = hi + std::log(std::exp(logscore[p] - hi) + std::exp(ls - hi));
        }
      }
      keep.push_back(top_with(logscore, b, {}));
    }
    return gather(in, keep, config(), elem_bytes());
  }
};

}  // namespace
std::unique_ptr<KvMethod> make_expected_attention(const KvParams& p) { return std::make_unique<ExpectedAttention>(p); }
}  // namespace attnbench::kv::detail

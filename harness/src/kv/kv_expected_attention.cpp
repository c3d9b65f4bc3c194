// expected_attention (KVPress, Devoto et al. 2025): model future queries as Gaussian
// N(mu, Sigma) fitted to the last `window` prompt queries; a key's expected unnormalised
// attention is E[exp(q.k/sqrt d)] = exp(mu.k/sqrt d + k^T Sigma k / (2d)). Keep the top
// budget by that score, summed over the GQA group. No attention matrix is formed: two
// statistics (query mean/covariance, expected logit) and one top-k.
#include <algorithm>

#include "kv_policy_base.h"

namespace attnbench::kv {
namespace {

class ExpectedAttention final : public EvictionPolicy {
 public:
  using EvictionPolicy::EvictionPolicy;
  bool needs_queries() const override { return true; }
  int32_t window() const { return static_cast<int32_t>(p_.geti("window", 64)); }
  std::string config() const override {
    return canonical_config("expected_attention", {{"budget", p_.geti("budget", 256)}, {"window", window()}, {"elem_bytes", elem_bytes()}});
  }
  void compress(const ab_kv_env& env, const ab_kv_layer& in, int32_t, ab_kv_plan& plan) const override {
    validate_layer(in, true);
    KvPrimitives prims(env);
    const int32_t b = budget_tokens(p_, in.len_k), Lk = in.len_k, d = in.head_dim;
    const int32_t w = std::clamp(window(), 1, Lk);
    ab_kv_stat_args a{};
    a.heads_q = in.heads_q, a.heads_kv = in.heads_kv, a.len_k = Lk, a.head_dim = d;
    a.k = in.k, a.q = in.q_context, a.q_rows = Lk, a.row0 = Lk - w, a.n_obs = w;
    a.scale = logit_scale(in);
    KvBuffer moments = prims.alloc(static_cast<size_t>(in.heads_q) * (d + static_cast<size_t>(d) * d) * sizeof(float));
    a.stat = AB_KV_QUERY_MEAN_COV, a.out = moments.get();
    prims.statistics(a);
    KvBuffer logit = prims.alloc(static_cast<size_t>(in.heads_kv) * Lk * sizeof(float));
    a.stat = AB_KV_EXPECTED_LOGIT, a.aux = moments.get(), a.out = logit.get();
    prims.statistics(a);
    keep_tokens(plan, in, prims.topk_rows(logit.get(), in.heads_kv, Lk, b), elem_bytes());
  }
};

}  // namespace
std::unique_ptr<KvPolicy> make_expected_attention(const KvParams& p) { return std::make_unique<ExpectedAttention>(p); }
}  // namespace attnbench::kv

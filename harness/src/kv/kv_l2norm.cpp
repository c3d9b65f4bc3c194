// l2norm (Devoto et al. 2024): keys that draw the most attention tend to have LOW L2
// norm, so keep the budget tokens with the lowest key norm. Needs no scores or queries:
// the key-norm statistic, negated on the host (top-k keeps the largest), then top-k.
#include "kv_policy_base.h"

namespace attnbench::kv {
namespace {

class L2Norm final : public EvictionPolicy {
 public:
  using EvictionPolicy::EvictionPolicy;
  std::string config() const override {
    return canonical_config("l2norm", {{"budget", p_.geti("budget", 256)}, {"elem_bytes", elem_bytes()}});
  }
  void compress(const ab_kv_env& env, const ab_kv_layer& in, int32_t, ab_kv_plan& plan) const override {
    validate_layer(in, false);
    KvPrimitives prims(env);
    const int32_t b = budget_tokens(p_, in.len_k);
    const size_t n = static_cast<size_t>(in.heads_kv) * in.len_k;
    KvBuffer norms = prims.alloc(n * sizeof(float));
    ab_kv_stat_args a{};
    a.heads_q = in.heads_q, a.heads_kv = in.heads_kv, a.len_k = in.len_k, a.head_dim = in.head_dim;
    a.stat = AB_KV_KEY_L2NORM, a.k = in.k, a.out = norms.get();
    prims.statistics(a);
    std::vector<float> neg = prims.download<float>(norms.get(), n);
    for (float& x : neg) x = -x;
    prims.upload_bytes(norms.get(), neg.data(), n * sizeof(float));
    keep_tokens(plan, in, prims.topk_rows(norms.get(), in.heads_kv, in.len_k, b), elem_bytes());
  }
};

}  // namespace
std::unique_ptr<KvPolicy> make_l2norm(const KvParams& p) { return std::make_unique<L2Norm>(p); }
}  // namespace attnbench::kv

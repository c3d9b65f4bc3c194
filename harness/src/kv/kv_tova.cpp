// tova (Oren et al. 2024, "Transformers are Multi-State RNNs"): the cache is a fixed-size
// state; each new query attends the cache plus its own token, and the token with the
// lowest attention from that query is evicted, one at a time. Replayed over the prompt
// queries: one observation_scores call per step (n_obs = 1 over each head's cache).
// GQA: attention summed over the group so the head keeps one set.
#include <algorithm>

#include "kv_policy_base.h"

namespace attnbench::kv {
namespace {

class Tova final : public EvictionPolicy {
 public:
  using EvictionPolicy::EvictionPolicy;
  bool needs_queries() const override { return true; }
  std::string config() const override {
    return canonical_config("tova", {{"budget", p_.geti("budget", 256)}, {"elem_bytes", elem_bytes()}});
  }
  void compress(const ab_kv_env& env, const ab_kv_layer& in, int32_t, ab_kv_plan& plan) const override {
    validate_layer(in, true);
    KvPrimitives prims(env);
    const int32_t b = budget_tokens(p_, in.len_k), Lk = in.len_k, hkv = in.heads_kv;
    std::vector<std::vector<int32_t>> cache(hkv, all_tokens(b));
    KvBuffer scratch;
    for (int32_t t = b; t < Lk; ++t) {
      for (auto& c : cache) c.push_back(t);
      const auto a = scores_over(prims, in, t, 1, false, cache, scratch);
      for (int32_t j = 0; j < hkv; ++j)
        cache[j].erase(cache[j].begin() + (std::min_element(a[j].begin(), a[j].end()) - a[j].begin()));
    }
    keep_tokens(plan, in, cache, elem_bytes());
  }
};

}  // namespace
std::unique_ptr<KvPolicy> make_tova(const KvParams& p) { return std::make_unique<Tova>(p); }
}  // namespace attnbench::kv

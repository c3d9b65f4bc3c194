// h2o (Zhang et al. 2023, Heavy-Hitter Oracle): score = attention accumulated from every
// past query; keep heavy hitters plus the `recent` window. Default is H2O's online greedy
// policy: prompt queries are replayed in order over the current cache, and whenever the
// cache exceeds the budget the non-recent token with the lowest accumulated score is
// evicted. So a token no query attended before the cache filled up is gone before a
// later question can ask for it. online=0 selects once after prefill instead (accumulated
// attention of all prompt rows, as prefill-time compression libraries do).
// a2sf (Jo & Shin 2024): the same with a forgetting factor, score <- lambda*score + a_t.
// GQA: scores summed over the group so a KV head keeps one set.
// Primitives: the online replay asks observation_scores for one row (n_obs = 1) over each
// head's current cache per step and books the scores on the host; offline is one
// observation_scores call over every row (weights lambda^(Lk-1-t)) and one top-k.
#include <algorithm>
#include <cmath>

#include "kv_policy_base.h"

namespace attnbench::kv {
namespace {

class Accumulated final : public EvictionPolicy {
 public:
  Accumulated(const KvParams& p, bool forgetting) : EvictionPolicy(p), forgetting_(forgetting) {}
  bool needs_queries() const override { return true; }
  int64_t recent() const { return p_.geti("recent", p_.geti("budget", 256) / 2); }  // H2O: heavy = recent = 50%
  double lambda() const { return forgetting_ ? p_.get("lambda", 0.99) : 1.0; }
  bool online() const { return p_.geti("online", 1) != 0; }
  std::string config() const override {
    if (forgetting_)
      return canonical_config("a2sf", {{"budget", p_.geti("budget", 256)}, {"recent", recent()}, {"lambda", lambda()}, {"online", online()}, {"elem_bytes", elem_bytes()}});
    return canonical_config("h2o", {{"budget", p_.geti("budget", 256)}, {"recent", recent()}, {"online", online()}, {"elem_bytes", elem_bytes()}});
  }
  void compress(const ab_kv_env& env, const ab_kv_layer& in, int32_t, ab_kv_plan& plan) const override {
    validate_layer(in, true);
    KvPrimitives prims(env);
    const int32_t b = budget_tokens(p_, in.len_k);
    const int32_t r = static_cast<int32_t>(std::min<int64_t>(recent(), b - 1));
    keep_tokens(plan, in, online() ? select_online(prims, in, b, r) : select_offline(prims, in, b, r), elem_bytes());
  }

 private:
  std::vector<std::vector<int32_t>> select_offline(KvPrimitives& prims, const ab_kv_layer& in, int32_t b, int32_t r) const {
    const int32_t Lk = in.len_k;
    std::vector<float> w(Lk);
    for (int32_t t = 0; t < Lk; ++t) w[t] = static_cast<float>(std::pow(lambda(), Lk - 1 - t));
    const KvBuffer score = causal_scores(prims, in, 0, Lk, forgetting_ ? &w : nullptr);
    return prims.topk_rows(score.get(), in.heads_kv, Lk, b, 0, std::max(r, 0));
  }

  std::vector<std::vector<int32_t>> select_online(KvPrimitives& prims, const ab_kv_layer& in, int32_t b, int32_t r) const {
    const int32_t Lk = in.len_k, hkv = in.heads_kv;
    const double lam = lambda();
    std::vector<std::vector<int32_t>> cache(hkv);  // ascending token ids per head
    std::vector<std::vector<double>> acc(hkv);     // accumulated score per slot
    KvBuffer scratch;
    for (int32_t t = 0; t < Lk; ++t) {
      for (int32_t j = 0; j < hkv; ++j) {
        cache[j].push_back(t);
        acc[j].push_back(0.0);
        for (auto& a : acc[j]) a *= lam;
      }
      // Row t over each head's current cache (every cached token precedes t: no mask).
      const auto s = scores_over(prims, in, t, 1, false, cache, scratch);
      for (int32_t j = 0; j < hkv; ++j) {
        for (size_t i = 0; i < acc[j].size(); ++i) acc[j][i] += s[j][i];
        if (static_cast<int32_t>(cache[j].size()) > b) {  // evict among the non-recent slots
          const size_t lim = cache[j].size() - r;
          const size_t victim = std::min_element(acc[j].begin(), acc[j].begin() + lim) - acc[j].begin();
          cache[j].erase(cache[j].begin() + victim);
          acc[j].erase(acc[j].begin() + victim);
        }
      }
    }
    return cache;
  }

  bool forgetting_;
};

}  // namespace
std::unique_ptr<KvPolicy> make_h2o(const KvParams& p) { return std::make_unique<Accumulated>(p, false); }
std::unique_ptr<KvPolicy> make_a2sf(const KvParams& p) { return std::make_unique<Accumulated>(p, true); }
}  // namespace attnbench::kv

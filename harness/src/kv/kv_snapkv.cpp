// snapkv (Li et al. 2024): score prefix tokens by the attention of the last `window`
// prompt queries (the observation window, which holds the question), smooth the scores
// by max-pooling over `pool` neighbours (keeps the context around a hit), keep the top
// budget - window prefix tokens plus the window. GQA: scores summed over the group.
// One observation_scores call (pooled below the window) and one top-k with the window forced.
// pyramidkv (Cai et al. 2024): snapkv with budgets shrinking across layers along an
// arithmetic sequence from 2*budget - budget/beta (layer 0) to budget/beta (last layer),
// mean = budget.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "kv_policy_base.h"

namespace attnbench::kv {
namespace {

/// SnapKV selection with an explicit per-head budget (shared with pyramidkv).
std::vector<std::vector<int32_t>> snapkv_select(KvPrimitives& prims, const ab_kv_layer& in, int32_t budget,
                                                int32_t window, int32_t pool) {
  const int32_t Lk = in.len_k;
  if (budget >= Lk) return std::vector<std::vector<int32_t>>(in.heads_kv, all_tokens(Lk));
  if (window >= budget) throw std::invalid_argument("snapkv: window must be smaller than the budget");
  const int32_t obs0 = Lk - window;
  const KvBuffer score = causal_scores(prims, in, obs0, window, nullptr, pool, obs0);
  return prims.topk_rows(score.get(), in.heads_kv, Lk, budget, 0, window);  // window slots forced, not ranked
}

class SnapKV final : public EvictionPolicy {
 public:
  SnapKV(const KvParams& p, bool pyramid) : EvictionPolicy(p), pyramid_(pyramid) {}
  bool needs_queries() const override { return true; }
  int32_t window() const { return static_cast<int32_t>(p_.geti("window", 32)); }
  int32_t pool() const { return static_cast<int32_t>(p_.geti("pool", 7)); }
  double beta() const { return p_.get("beta", 20.0); }
  std::string config() const override {
    if (pyramid_)
      return canonical_config("pyramidkv", {{"budget", p_.geti("budget", 256)}, {"window", window()}, {"pool", pool()}, {"beta", beta()}, {"elem_bytes", elem_bytes()}});
    return canonical_config("snapkv", {{"budget", p_.geti("budget", 256)}, {"window", window()}, {"pool", pool()}, {"elem_bytes", elem_bytes()}});
  }
  /// Budget of this layer (pyramidkv) or the flat budget (snapkv), clipped to len_k.
  int32_t layer_budget(const ab_kv_layer& in) const {
    const int32_t b = budget_tokens(p_, in.len_k);
    if (!pyramid_ || in.num_layers <= 1) return b;
    const double total = static_cast<double>(p_.geti("budget", 256));
    const double top = std::max(total / beta(), static_cast<double>(window() + 1));
    const double bottom = 2 * total - top;
    const double bl = bottom - (bottom - top) * in.layer / (in.num_layers - 1);
    return static_cast<int32_t>(std::min<double>(std::lround(bl), in.len_k));
  }
  uint64_t requested_bytes(const ab_kv_layer& in, int32_t) const override {
    return in.heads_kv * token_bytes(layer_budget(in), in.head_dim, elem_bytes());
  }
  void compress(const ab_kv_env& env, const ab_kv_layer& in, int32_t, ab_kv_plan& plan) const override {
    validate_layer(in, true);
    KvPrimitives prims(env);
    keep_tokens(plan, in, snapkv_select(prims, in, layer_budget(in), window(), pool()), elem_bytes());
  }

 private:
  bool pyramid_;
};

}  // namespace
std::unique_ptr<KvPolicy> make_snapkv(const KvParams& p) { return std::make_unique<SnapKV>(p, false); }
std::unique_ptr<KvPolicy> make_pyramidkv(const KvParams& p) { return std::make_unique<SnapKV>(p, true); }
}  // namespace attnbench::kv

// snapkv (Li et al. 2024): score prefix tokens by the attention of the last `window`
// prompt queries (the observation window, which holds the question), smooth the scores
// by max-pooling over `pool` neighbours (keeps the context around a hit), keep the top
// budget - window prefix tokens plus the window. GQA: scores summed over the group.
// pyramidkv (Cai et al. 2024): snapkv with budgets shrinking across layers along an
// arithmetic sequence from 2*budget - budget/beta (layer 0) to budget/beta (last layer),
// mean = budget.
#include <algorithm>
#include <cmath>

#include "kv_internal.h"

namespace attnbench::kv::detail {

/// SnapKV selection with an explicit per-head budget (shared with pyramidkv).
std::vector<std::vector<int32_t>> snapkv_select(const KvInput& in, int32_t budget, int32_t window, int32_t pool) {
  const int32_t Lk = in.len_k;
  if (budget >= Lk) {
    std::vector<int32_t> all(Lk);
    for (int32_t t = 0; t < Lk; ++t) all[t] = t;
    return std::vector<std::vector<int32_t>>(in.heads_kv, all);
  }
  if (window >= budget) throw std::invalid_argument("snapkv: window must be smaller than the budget");
  const int32_t obs0 = Lk - window;
  const auto score = accumulated_attention(in, [&](int32_t t) { return t >= obs0 ? 1.0 : 0.0; });
  std::vector<int32_t> win;
  for (int32_t t = obs0; t < Lk; ++t) win.push_back(t);
  std::vector<std::vector<int32_t>> keep;
  const int32_t half = pool / 2;
  for (int j = 0; j < in.heads_kv; ++j) {
    std::vector<double> pooled(Lk, -1.0);  // window slots are forced, not ranked
    for (int32_t t = 0; t < obs0; ++t) {
      double m = 0;
      for (int32_t u = std::max(0, t - half); u <= std::min(obs0 - 1, t + half); ++u) m = std::max(m, score[j][u]);
      pooled[t] = m;
    }
    keep.push_back(top_with(pooled, budget - window, win));
  }
  return keep;
}

namespace {

class SnapKV final : public EvictionMethod {
 public:
  SnapKV(const KvParams& p, bool pyramid) : EvictionMethod(p), pyramid_(pyramid) {}
  bool needs_context_queries() const override { return true; }
  int32_t window() const { return static_cast<int32_t>(p_.geti("window", 32)); }
  int32_t pool() const { return static_cast<int32_t>(p_.geti("pool", 7)); }
  double beta() const { return p_.get("beta", 20.0); }
  std::string config() const override {
    if (pyramid_)
      return canonical("pyramidkv", {{"budget", p_.geti("budget", 256)}, {"window", window()}, {"pool", pool()}, {"beta", beta()}, {"elem_bytes", elem_bytes()}});
    return canonical("snapkv", {{"budget", p_.geti("budget", 256)}, {"window", window()}, {"pool", pool()}, {"elem_bytes", elem_bytes()}});
  }
  /// Budget of this layer (pyramidkv) or the flat budget (snapkv), clipped to len_k.
  int32_t layer_budget(const KvInput& in) const {
    const int32_t b = budget_tokens(p_, in.len_k);
    if (!pyramid_ || in.num_layers <= 1) return b;
    const double total = static_cast<double>(p_.geti("budget", 256));
    const double top = std::max(total / beta(), static_cast<double>(window() + 1));
    const double bottom = 2 * total - top;
    const double bl = bottom - (bottom - top) * in.layer / (in.num_layers - 1);
    return static_cast<int32_t>(std::min<double>(std::lround(bl), in.len_k));
  }
  uint64_t requested_bytes(const KvInput& in) const override {
    return in.heads_kv * token_bytes(layer_budget(in), in.head_dim, elem_bytes());
  }
  CompressedCache compress(const KvInput& in) const override {
    validate(in, true);
    return gather(in, snapkv_select(in, layer_budget(in), window(), pool()), config(), elem_bytes());
  }

 private:
  bool pyramid_;
};

}  // namespace
std::unique_ptr<KvMethod> make_snapkv(const KvParams& p) { return std::make_unique<SnapKV>(p, false); }
std::unique_ptr<KvMethod> make_pyramidkv(const KvParams& p) { return std::make_unique<SnapKV>(p, true); }
}  // namespace attnbench::kv::detail

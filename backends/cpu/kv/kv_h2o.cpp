// h2o (Zhang et al. 2023, Heavy-Hitter Oracle): score = attention accumulated from every
// past query; keep heavy hitters plus the `recent` window. Default is H2O's online greedy
// policy: prompt queries are replayed in order over the current cache, and whenever the
// cache exceeds the budget the non-recent token with the lowest accumulated score is
// evicted. So a token no query attended before the cache filled up is gone before a
// later question can ask for it. online=0 selects once after prefill instead (accumulated
// attention of all prompt rows, as prefill-time compression libraries do).
// a2sf (Jo & Shin 2024): the same with a forgetting factor, score <- lambda*score + a_t.
// GQA: scores summed over the group so a KV head keeps one set.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>

#include "kv_internal.h"

namespace attnbench::kv::detail {
namespace {

class Accumulated final : public EvictionMethod {
 public:
  Accumulated(const KvParams& p, bool forgetting) : EvictionMethod(p), forgetting_(forgetting) {}
  bool needs_context_queries() const override { return true; }
  int64_t recent() const { return p_.geti("recent", p_.geti("budget", 256) / 2); }  // H2O: heavy = recent = 50%
  double lambda() const { return forgetting_ ? p_.get("lambda", 0.99) : 1.0; }
  bool online() const { return p_.geti("online", 1) != 0; }
  std::string config() const override {
    if (forgetting_)
      return canonical("a2sf", {{"budget", p_.geti("budget", 256)}, {"recent", recent()}, {"lambda", lambda()}, {"online", online()}, {"elem_bytes", elem_bytes()}});
    return canonical("h2o", {{"budget", p_.geti("budget", 256)}, {"recent", recent()}, {"online", online()}, {"elem_bytes", elem_bytes()}});
  }
  CompressedCache compress(const KvInput& in) const override {
    validate(in, true);
    const int32_t b = budget_tokens(p_, in.len_k);
    const int32_t r = static_cast<int32_t>(std::min<int64_t>(recent(), b - 1));
    return gather(in, online() ? select_online(in, b, r) : select_offline(in, b, r), config(), elem_bytes());
  }

 private:
  std::vector<std::vector<int32_t>> select_offline(const KvInput& in, int32_t b, int32_t r) const {
    const int32_t Lk = in.len_k;
    const double lam = lambda();
    const auto score = accumulated_attention(in, [&](int32_t t) { return std::pow(lam, Lk - 1 - t); });
    std::vector<int32_t> win;
    for (int32_t t = Lk - r; t < Lk; ++t) win.push_back(t);
    std::vector<std::vector<int32_t>> keep;
    for (int j = 0; j < in.heads_kv; ++j) keep.push_back(top_with(score[j], b - r, win));
    return keep;
  }

  std::vector<std::vector<int32_t>> select_online(const KvInput& in, int32_t b, int32_t r) const {
    const int32_t Lk = in.len_k;
    const double lam = lambda();
    std::vector<std::vector<int32_t>> keep(in.heads_kv);
    tbb::parallel_for(0, in.heads_kv, [&](int j) {
      std::vector<int32_t> cache;  // ascending token ids
      std::vector<double> acc, s;  // accumulated score per slot
      for (int32_t t = 0; t < Lk; ++t) {
        cache.push_back(t);
        acc.push_back(0.0);
        for (auto& a : acc) a *= lam;
        add_group_attention(in, j, t, cache, s, acc);
        if (static_cast<int32_t>(cache.size()) > b) {  // evict among the non-recent slots
          const size_t lim = cache.size() - r;
          const size_t victim = std::min_element(acc.begin(), acc.begin() + lim) - acc.begin();
          cache.erase(cache.begin() + victim);
          acc.erase(acc.begin() + victim);
        }
      }
      keep[j] = cache;
    });
    return keep;
  }

  bool forgetting_;
};

}  // namespace
std::unique_ptr<KvMethod> make_h2o(const KvParams& p) { return std::make_unique<Accumulated>(p, false); }
std::unique_ptr<KvMethod> make_a2sf(const KvParams& p) { return std::make_unique<Accumulated>(p, true); }
}  // namespace attnbench::kv::detail

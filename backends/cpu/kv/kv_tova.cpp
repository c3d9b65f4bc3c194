// tova (Oren et al. 2024, "Transformers are Multi-State RNNs"): the cache is a fixed-size
// state; each new query attends the cache plus its own token, and the token with the
// lowest attention from that query is evicted, one at a time. Replayed over the prompt
// queries. GQA: attention summed over the group so the head keeps one set.
#include <algorithm>
#include <cmath>

#include <tbb/parallel_for.h>

#include "kv_internal.h"

namespace attnbench::kv::detail {
namespace {

class Tova final : public EvictionMethod {
 public:
  using EvictionMethod::EvictionMethod;
  bool needs_context_queries() const override { return true; }
  std::string config() const override {
    return canonical("tova", {{"budget", p_.geti("budget", 256)}, {"elem_bytes", elem_bytes()}});
  }
  CompressedCache compress(const KvInput& in) const override {
    validate(in, true);
    const int32_t b = budget_tokens(p_, in.len_k), Lk = in.len_k;
    std::vector<std::vector<int32_t>> keep(in.heads_kv);
    tbb::parallel_for(0, in.heads_kv, [&](int j) {
      std::vector<int32_t> cache;
      for (int32_t t = 0; t < b; ++t) cache.push_back(t);
      std::vector<double> s, a;
      for (int32_t t = b; t < Lk; ++t) {
        cache.push_back(t);
        a.assign(cache.size(), 0.0);
        add_group_attention(in, j, t, cache, s, a);
        cache.erase(cache.begin() + (std::min_element(a.begin(), a.end()) - a.begin()));
      }
      std::sort(cache.begin(), cache.end());
      keep[j] = cache;
    });
    return gather(in, keep, config(), elem_bytes());
  }
};

}  // namespace
std::unique_ptr<KvMethod> make_tova(const KvParams& p) { return std::make_unique<Tova>(p); }
}  // namespace attnbench::kv::detail

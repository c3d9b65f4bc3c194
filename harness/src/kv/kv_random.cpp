// random: keep a seeded random subset of budget tokens per head; the floor every method
// must beat. Positions only: no primitive needed.
#include <algorithm>
#include <numeric>

#include "counter_rng.h"
#include "kv_policy_base.h"

namespace attnbench::kv {
namespace {

class Random final : public EvictionPolicy {
 public:
  using EvictionPolicy::EvictionPolicy;
  std::string config() const override {
    return canonical_config("random", {{"budget", p_.geti("budget", 256)}, {"seed", p_.geti("seed", 0)}, {"elem_bytes", elem_bytes()}});
  }
  void compress(const ab_kv_env&, const ab_kv_layer& in, int32_t, ab_kv_plan& plan) const override {
    validate_layer(in, false);
    const int32_t b = budget_tokens(p_, in.len_k);
    std::vector<std::vector<int32_t>> keep;
    for (int j = 0; j < in.heads_kv; ++j) {
      const gen::StreamKey s{static_cast<uint64_t>(p_.geti("seed", 0)), static_cast<uint64_t>(in.layer), 0x72616e64ull + j};
      std::vector<int32_t> idx = all_tokens(in.len_k);
      for (int32_t i = 0; i < b; ++i) {  // partial Fisher-Yates
        const int32_t r = i + static_cast<int32_t>(s.uniform(i) * (in.len_k - i));
        std::swap(idx[i], idx[r]);
      }
      idx.resize(b);
      std::sort(idx.begin(), idx.end());
      keep.push_back(idx);
    }
    keep_tokens(plan, in, keep, elem_bytes());
  }
};

}  // namespace
std::unique_ptr<KvPolicy> make_random(const KvParams& p) { return std::make_unique<Random>(p); }
}  // namespace attnbench::kv

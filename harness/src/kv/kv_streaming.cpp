// streaming (StreamingLLM, Xiao et al. 2023): keep the first `sink` tokens (attention
// sinks) and the most recent budget - sink tokens. Positions only: no primitive needed.
#include <algorithm>

#include "kv_policy_base.h"

namespace attnbench::kv {
namespace {

class Streaming final : public EvictionPolicy {
 public:
  using EvictionPolicy::EvictionPolicy;
  std::string config() const override {
    return canonical_config("streaming", {{"budget", p_.geti("budget", 256)}, {"sink", sink()}, {"elem_bytes", elem_bytes()}});
  }
  int32_t sink() const { return static_cast<int32_t>(p_.geti("sink", 4)); }
  void compress(const ab_kv_env&, const ab_kv_layer& in, int32_t, ab_kv_plan& plan) const override {
    validate_layer(in, false);
    const int32_t b = budget_tokens(p_, in.len_k);
    const int32_t s = std::min(sink(), b);
    std::vector<int32_t> keep;
    for (int32_t t = 0; t < s; ++t) keep.push_back(t);
    for (int32_t t = in.len_k - (b - s); t < in.len_k; ++t) keep.push_back(t);
    keep_tokens(plan, in, std::vector<std::vector<int32_t>>(in.heads_kv, keep), elem_bytes());
  }
};

}  // namespace
std::unique_ptr<KvPolicy> make_streaming(const KvParams& p) { return std::make_unique<Streaming>(p); }
}  // namespace attnbench::kv

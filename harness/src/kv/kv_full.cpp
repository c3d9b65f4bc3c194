// full: no compression, the baseline every method is compared with.
#include "kv_policy_base.h"

namespace attnbench::kv {
namespace {

class Full final : public EvictionPolicy {
 public:
  using EvictionPolicy::EvictionPolicy;
  std::string config() const override { return canonical_config("full", {{"elem_bytes", elem_bytes()}}); }
  uint64_t requested_bytes(const ab_kv_layer& in, int32_t) const override {
    return in.heads_kv * token_bytes(in.len_k, in.head_dim, elem_bytes());
  }
  void compress(const ab_kv_env&, const ab_kv_layer& in, int32_t, ab_kv_plan& plan) const override {
    validate_layer(in, false);
    keep_tokens(plan, in, std::vector<std::vector<int32_t>>(in.heads_kv, all_tokens(in.len_k)), elem_bytes());
  }
};

}  // namespace
std::unique_ptr<KvPolicy> make_full(const KvParams& p) { return std::make_unique<Full>(p); }
}  // namespace attnbench::kv

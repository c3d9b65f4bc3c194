// int8: per-token symmetric int8 quantisation of K and V (one fp16 scale per token per
// tensor), the common production baseline. Bytes: Lk*d int8 + Lk fp16 scales, each of K, V.
// The plan keeps every token; the backend quantises and decodes.
#include "kv_policy_base.h"

namespace attnbench::kv {
namespace {

class Int8 final : public ConfigPolicy {
 public:
  using ConfigPolicy::ConfigPolicy;
  std::string config() const override { return canonical_config("int8", {{"elem_bytes", p_.geti("elem_bytes", 2)}}); }
  uint64_t requested_bytes(const ab_kv_layer& in, int32_t) const override {
    return static_cast<uint64_t>(in.heads_kv) * in.len_k * 2 * (static_cast<uint64_t>(in.head_dim) + 2);
  }
  void compress(const ab_kv_env&, const ab_kv_layer& in, int32_t, ab_kv_plan& plan) const override {
    validate_layer(in, false);
    const uint64_t bytes = static_cast<uint64_t>(in.len_k) * 2 * (static_cast<uint64_t>(in.head_dim) + 2);
    for (int32_t j = 0; j < in.heads_kv; ++j) set_head(plan, j, all_tokens(in.len_k), bytes);
    plan.quantised = 1;
    plan.quant.key_bits = plan.quant.value_bits = 8;
    plan.quant.key_axis = plan.quant.value_axis = AB_KV_PER_TOKEN;
    plan.quant.key_group = plan.quant.value_group = 0;
    plan.quant.symmetric = 1;
    plan.quant.residual = 0;
  }
};

}  // namespace
std::unique_ptr<KvPolicy> make_int8(const KvParams& p) { return std::make_unique<Int8>(p); }
}  // namespace attnbench::kv

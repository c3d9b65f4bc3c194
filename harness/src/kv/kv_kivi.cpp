// kivi (Liu et al. 2024, KIVI): keys quantised per channel (outlier channels in K make
// per-token key quantisation poor), values per token, to `bits` (2 or 4) with groups of
// `group` elements, asymmetric (fp16 scale + zero point per group); the most recent
// tokens stay in full precision: the last `residual` tokens plus the tail that does not
// fill a whole key group. Bytes are the real packed sizes. The plan keeps every token and
// hands the spec to the backend's quantize / quant_decode.
#include <algorithm>
#include <stdexcept>

#include "kv_policy_base.h"

namespace attnbench::kv {
namespace {

class Kivi final : public ConfigPolicy {
 public:
  using ConfigPolicy::ConfigPolicy;
  int bits() const { return static_cast<int>(p_.geti("bits", 2)); }
  int32_t group() const { return static_cast<int32_t>(p_.geti("group", 32)); }
  int32_t residual() const { return static_cast<int32_t>(p_.geti("residual", 128)); }
  std::string config() const override {
    return canonical_config("kivi", {{"bits", bits()}, {"group", group()}, {"residual", residual()}, {"elem_bytes", elem_bytes()}});
  }
  int32_t quantised_tokens(int32_t Lk) const { return std::max(0, Lk - residual()) / group() * group(); }
  /// Packed codes of K and V, fp16 scale + zero per group, fp tail.
  uint64_t head_bytes(const ab_kv_layer& in) const {
    const uint64_t nq = quantised_tokens(in.len_k), d = in.head_dim, G = group(), Gv = std::min<uint64_t>(G, d);
    const uint64_t packed = (nq * d * bits() + 7) / 8;
    const uint64_t groups = (nq / G) * d + nq * ((d + Gv - 1) / Gv);
    return 2 * packed + groups * 2 * 2 + token_bytes(in.len_k - nq, in.head_dim, elem_bytes());
  }
  uint64_t requested_bytes(const ab_kv_layer& in, int32_t) const override { return in.heads_kv * head_bytes(in); }
  void compress(const ab_kv_env&, const ab_kv_layer& in, int32_t, ab_kv_plan& plan) const override {
    validate_layer(in, false);
    if (bits() < 1 || bits() > 8 || group() < 1) throw std::invalid_argument("kivi: bits in 1..8 and group >= 1");
    for (int32_t j = 0; j < in.heads_kv; ++j) set_head(plan, j, all_tokens(in.len_k), head_bytes(in));
    plan.quantised = 1;
    plan.quant.key_bits = plan.quant.value_bits = bits();
    plan.quant.key_axis = AB_KV_PER_CHANNEL, plan.quant.key_group = group();
    plan.quant.value_axis = AB_KV_PER_TOKEN, plan.quant.value_group = std::min(group(), in.head_dim);
    plan.quant.symmetric = 0;
    plan.quant.residual = residual();
  }
};

}  // namespace
std::unique_ptr<KvPolicy> make_kivi(const KvParams& p) { return std::make_unique<Kivi>(p); }
}  // namespace attnbench::kv

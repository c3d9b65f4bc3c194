// spatten (Wang et al. 2021, SpAtten): cascade token pruning plus progressive quantisation.
// Pruning: tokens are ranked by cumulative attention importance (the attention every
// prompt query pays them, as in h2o, summed over the GQA group) and pruned in `stages`
// cascade steps, geometrically from Lk down to the budget; each step recomputes the
// scores with softmax over the surviving tokens only (a pruned token neither receives nor
// absorbs attention in later steps): observation_scores over each head's survivors.
// SpAtten prunes across layers; one layer here runs the cascade within the layer. Per KV
// head, so every head keeps `budget` tokens.
// Quantisation: kept K and V are stored per token, asymmetric linear `bits` (8 or 4) with
// fp16 scale + zero point per token per tensor, codes laid out as bit planes with the most
// significant bits first (SpAtten fetches MSBs first and LSBs only for flat attention;
// decode here always reads all `bits`). Bytes per head and tensor: ceil(n*d*bits/8) + 4n.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "kv_policy_base.h"

namespace attnbench::kv {
namespace {

class SpAtten final : public ConfigPolicy {
 public:
  using ConfigPolicy::ConfigPolicy;
  bool needs_queries() const override { return true; }
  int bits() const { return static_cast<int>(p_.geti("bits", 8)); }
  int32_t stages() const { return static_cast<int32_t>(p_.geti("stages", 3)); }
  std::string config() const override {
    return canonical_config("spatten", {{"budget", p_.geti("budget", 256)}, {"bits", bits()}, {"stages", stages()}, {"elem_bytes", elem_bytes()}});
  }
  static uint64_t tensor_bytes(uint64_t n, uint64_t d, int bits) { return (n * d * bits + 7) / 8 + n * 2 * 2; }
  uint64_t requested_bytes(const ab_kv_layer& in, int32_t) const override {
    return static_cast<uint64_t>(in.heads_kv) * 2 * tensor_bytes(budget_tokens(p_, in.len_k), in.head_dim, bits());
  }

  void compress(const ab_kv_env& env, const ab_kv_layer& in, int32_t, ab_kv_plan& plan) const override {
    validate_layer(in, true);
    if (bits() != 8 && bits() != 4) throw std::invalid_argument("spatten: bits must be 8 or 4");
    if (stages() < 1) throw std::invalid_argument("spatten: stages must be >= 1");
    const int32_t Lk = in.len_k, b = budget_tokens(p_, Lk), hkv = in.heads_kv;
    std::vector<std::vector<int32_t>> keep(hkv, all_tokens(Lk));
    if (b < Lk) {
      KvPrimitives prims(env);
      KvBuffer scratch;
      for (int32_t s = 1; s <= stages(); ++s) {
        const int32_t target = s == stages() ? b
            : std::max<int32_t>(b, static_cast<int32_t>(std::lround(Lk * std::pow(static_cast<double>(b) / Lk, static_cast<double>(s) / stages()))));
        // Every prompt row over the survivors (causal); every head has the same count.
        const auto score = scores_over(prims, in, 0, Lk, true, keep, scratch);
        const int32_t n = static_cast<int32_t>(keep[0].size());
        std::vector<float> flat;
        for (const auto& row : score) flat.insert(flat.end(), row.begin(), row.end());
        prims.upload_bytes(scratch.get(), flat.data(), flat.size() * sizeof(float));
        const auto slots = prims.topk_rows(scratch.get(), hkv, n, std::min(target, n));
        for (int32_t j = 0; j < hkv; ++j) {
          std::vector<int32_t> next;
          for (int32_t slot : slots[j]) next.push_back(keep[j][slot]);
          keep[j] = std::move(next);
        }
      }
    }
    for (int32_t j = 0; j < hkv; ++j) set_head(plan, j, keep[j], 2 * tensor_bytes(keep[j].size(), in.head_dim, bits()));
    plan.quantised = 1;
    plan.quant.key_bits = plan.quant.value_bits = bits();
    plan.quant.key_axis = plan.quant.value_axis = AB_KV_PER_TOKEN;
    plan.quant.key_group = plan.quant.value_group = 0;
    plan.quant.symmetric = 0;
    plan.quant.residual = 0;
  }
};

}  // namespace
std::unique_ptr<KvPolicy> make_spatten(const KvParams& p) { return std::make_unique<SpAtten>(p); }
}  // namespace attnbench::kv

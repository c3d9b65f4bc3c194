// leank (LeanK, Zhang et al. 2025): a static channel mask on K. Per KV head, a fraction
// `drop` of the key channels is removed for good; V stays full. LeanK learns the mask;
// here the channels dropped are the ones with the lowest mean |k| over the prompt (ties to
// the lower channel index), from the key-channel statistic and a top-k of its negation.
// Decode uses the masked K (the backend's compaction writes dropped channels as zero).
// Bytes per head: Lk * (d - dropped) K elements + Lk * d V elements at elem_bytes (the
// mask itself, d bits per head, is configuration and not counted).
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "kv_policy_base.h"

namespace attnbench::kv {
namespace {

class LeanK final : public ConfigPolicy {
 public:
  using ConfigPolicy::ConfigPolicy;
  double drop() const { return p_.get("drop", 0.5); }
  std::string config() const override { return canonical_config("leank", {{"drop", drop()}, {"elem_bytes", elem_bytes()}}); }
  int32_t dropped(int32_t d) const {
    if (!(drop() >= 0.0 && drop() < 1.0)) throw std::invalid_argument("leank: drop must be in [0, 1)");
    return std::min<int32_t>(static_cast<int32_t>(std::lround(drop() * d)), d - 1);
  }
  uint64_t requested_bytes(const ab_kv_layer& in, int32_t) const override {
    const uint64_t d = in.head_dim, kept_ch = d - dropped(in.head_dim);
    return static_cast<uint64_t>(in.heads_kv) * in.len_k * (kept_ch + d) * elem_bytes();
  }
  void compress(const ab_kv_env& env, const ab_kv_layer& in, int32_t, ab_kv_plan& plan) const override {
    validate_layer(in, false);
    const int32_t Lk = in.len_k, d = in.head_dim, nd = dropped(d);
    const uint64_t bytes = static_cast<uint64_t>(Lk) * (2 * d - nd) * elem_bytes();
    for (int32_t j = 0; j < in.heads_kv; ++j) set_head(plan, j, all_tokens(Lk), bytes);
    if (nd > 0) {
      KvPrimitives prims(env);
      const size_t n = static_cast<size_t>(in.heads_kv) * d;
      KvBuffer mag = prims.alloc(n * sizeof(float));
      ab_kv_stat_args a{};
      a.heads_q = in.heads_q, a.heads_kv = in.heads_kv, a.len_k = Lk, a.head_dim = d;
      a.stat = AB_KV_KEY_CHANNEL_ABSMEAN, a.k = in.k, a.out = mag.get();
      prims.statistics(a);
      std::vector<float> neg = prims.download<float>(mag.get(), n);
      for (float& x : neg) x = -x;  // top-k keeps the largest: the lowest magnitudes go
      prims.upload_bytes(mag.get(), neg.data(), n * sizeof(float));
      const auto low = prims.topk_rows(mag.get(), in.heads_kv, d, nd);
      for (int32_t j = 0; j < in.heads_kv; ++j)
        for (int32_t c : low[j]) plan.key_channel_mask[static_cast<size_t>(j) * d + c] = 0;
      plan.use_channel_mask = 1;
    }
    add_metric(plan, "key_channels_kept_fraction", static_cast<double>(d - nd) / d);
  }
};

}  // namespace
std::unique_ptr<KvPolicy> make_leank(const KvParams& p) { return std::make_unique<LeanK>(p); }
}  // namespace attnbench::kv

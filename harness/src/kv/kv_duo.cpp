// duo (DuoAttention, Xiao et al. 2024): per KV head, retrieval heads keep every token,
// streaming heads keep `sink` + `recent` tokens. The first round(retrieval * Hkv) heads
// are retrieval heads (DuoAttention learns the split; here it is configuration). Memory:
//   kept tokens = n_r * Lk + (Hkv - n_r) * min(sink + recent, Lk)
//   ratio      = Hkv * Lk / kept  ->  1 / (f + (1 - f)(s + w)/Lk),  f = n_r / Hkv.
// razor (RazorAttention, Tang et al. 2024): duo plus one compensation token per streaming
// head holding the mean K and mean V of the dropped tokens (so streaming heads keep
// s + w + 1 slots when anything was dropped). The plan marks it with slot -1; the
// backend's compaction computes the means.
#include <algorithm>
#include <cmath>

#include "kv_policy_base.h"

namespace attnbench::kv {
namespace {

class Duo final : public EvictionPolicy {
 public:
  Duo(const KvParams& p, bool razor) : EvictionPolicy(p), razor_(razor) {}
  int32_t sink() const { return static_cast<int32_t>(p_.geti("sink", 4)); }
  int32_t recent() const { return static_cast<int32_t>(p_.geti("recent", 256)); }
  double retrieval() const { return p_.get("retrieval", 0.5); }
  int32_t n_retrieval(int32_t hkv) const { return static_cast<int32_t>(std::lround(std::clamp(retrieval(), 0.0, 1.0) * hkv)); }
  std::string config() const override {
    return canonical_config(razor_ ? "razor" : "duo",
                            {{"sink", sink()}, {"recent", recent()}, {"retrieval", retrieval()}, {"elem_bytes", elem_bytes()}});
  }
  /// Slots of a streaming head on this layer.
  int64_t streaming_slots(const ab_kv_layer& in) const {
    const int64_t sw = std::min<int64_t>(static_cast<int64_t>(sink()) + recent(), in.len_k);
    return sw + ((razor_ && sw < in.len_k) ? 1 : 0);
  }
  uint64_t requested_bytes(const ab_kv_layer& in, int32_t) const override {
    const int32_t nr = n_retrieval(in.heads_kv);
    return static_cast<uint64_t>(nr) * token_bytes(in.len_k, in.head_dim, elem_bytes()) +
           static_cast<uint64_t>(in.heads_kv - nr) * token_bytes(streaming_slots(in), in.head_dim, elem_bytes());
  }
  void compress(const ab_kv_env&, const ab_kv_layer& in, int32_t, ab_kv_plan& plan) const override {
    validate_layer(in, false);
    const int32_t Lk = in.len_k, nr = n_retrieval(in.heads_kv);
    const int64_t s = std::min<int64_t>(sink(), Lk), sw = std::min<int64_t>(s + recent(), Lk);
    for (int j = 0; j < in.heads_kv; ++j) {
      std::vector<int32_t> keep;
      if (j < nr) {
        keep = all_tokens(Lk);
      } else {
        for (int32_t t = 0; t < s; ++t) keep.push_back(t);
        for (int32_t t = static_cast<int32_t>(Lk - (sw - s)); t < Lk; ++t) keep.push_back(t);
        if (razor_ && sw < Lk) keep.push_back(-1);  // compensation slot: mean K/V of the dropped tokens
      }
      set_head(plan, j, keep, token_bytes(keep.size(), in.head_dim, elem_bytes()));
    }
  }

 private:
  bool razor_;
};

}  // namespace
std::unique_ptr<KvPolicy> make_duo(const KvParams& p) { return std::make_unique<Duo>(p, false); }
std::unique_ptr<KvPolicy> make_razor(const KvParams& p) { return std::make_unique<Duo>(p, true); }
}  // namespace attnbench::kv

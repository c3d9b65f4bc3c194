// duo (DuoAttention, Xiao et al. 2024): per KV head, retrieval heads keep every token,
// streaming heads keep `sink` + `recent` tokens. The first round(retrieval * Hkv) heads
// are retrieval heads (DuoAttention learns the split; here it is configuration), or, with
// identify=1, the heads whose last `window` prompt queries concentrate the most attention
// on one token a streaming head would drop (a training-free stand-in for DuoAttention's
// calibration on passkey data: a retrieval head copies a distant token; the total mass
// on dropped tokens does not separate them, as a head without a target spreads its
// attention over the whole context, mostly on dropped tokens too). Memory:
//   kept tokens = n_r * Lk + (Hkv - n_r) * min(sink + recent, Lk)
//   ratio      = Hkv * Lk / kept  ->  1 / (f + (1 - f)(s + w)/Lk),  f = n_r / Hkv.
// razor (RazorAttention, Tang et al. 2024): duo plus one compensation token per streaming
// head holding the mean K and mean V of the dropped tokens (so streaming heads keep
// s + w + 1 slots when anything was dropped). The plan marks it with slot -1; the
// backend's compaction computes the means.
#include <algorithm>
#include <cmath>
#include <numeric>

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
  bool identify() const { return p_.geti("identify", 0) != 0; }
  int32_t window() const { return static_cast<int32_t>(p_.geti("window", 32)); }
  bool needs_queries() const override { return identify(); }
  std::string config() const override {
    const char* name = razor_ ? "razor" : "duo";
    if (!identify())  // spelled as before identify existed, so stored configs keep matching
      return canonical_config(name, {{"sink", sink()}, {"recent", recent()}, {"retrieval", retrieval()}, {"elem_bytes", elem_bytes()}});
    return canonical_config(name, {{"sink", sink()}, {"recent", recent()}, {"retrieval", retrieval()}, {"identify", 1},
                                   {"window", window()}, {"elem_bytes", elem_bytes()}});
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
  /// Whether each KV head keeps every token: the first n_r heads, or with identify=1 the
  /// n_r heads whose observation window gives the most attention to a single token that a
  /// streaming head drops ([s, Lk - recent)).
  std::vector<char> retrieval_heads(const ab_kv_env& env, const ab_kv_layer& in, int64_t s, int64_t sw) const {
    const int32_t hkv = in.heads_kv, Lk = in.len_k, nr = n_retrieval(hkv);
    std::vector<char> out(hkv, 0);
    std::vector<int32_t> order(hkv);
    std::iota(order.begin(), order.end(), 0);
    if (identify()) {
      const int32_t w = std::clamp(window(), 1, Lk);
      KvPrimitives prims(env);
      const std::vector<float> score =
          prims.download<float>(causal_scores(prims, in, Lk - w, w).get(), static_cast<size_t>(hkv) * Lk);
      std::vector<float> peak(hkv, 0.0f);
      for (int32_t j = 0; j < hkv; ++j)
        for (int64_t t = s; t < Lk - (sw - s); ++t) peak[j] = std::max(peak[j], score[static_cast<size_t>(j) * Lk + t]);
      std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return peak[a] > peak[b]; });
    }
    for (int32_t r = 0; r < nr; ++r) out[order[r]] = 1;
    return out;
  }
  void compress(const ab_kv_env& env, const ab_kv_layer& in, int32_t, ab_kv_plan& plan) const override {
    validate_layer(in, identify());
    const int32_t Lk = in.len_k;
    const int64_t s = std::min<int64_t>(sink(), Lk), sw = std::min<int64_t>(s + recent(), Lk);
    const std::vector<char> retrieves = retrieval_heads(env, in, s, sw);
    for (int j = 0; j < in.heads_kv; ++j) {
      std::vector<int32_t> keep;
      if (retrieves[j]) {
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

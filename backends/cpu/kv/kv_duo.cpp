// duo (DuoAttention, Xiao et al. 2024): per KV head, retrieval heads keep every token,
// streaming heads keep `sink` + `recent` tokens. The first round(retrieval * Hkv) heads
// are retrieval heads (DuoAttention learns the split; here it is configuration). Memory:
//   kept tokens = n_r * Lk + (Hkv - n_r) * min(sink + recent, Lk)
//   ratio      = Hkv * Lk / kept  ->  1 / (f + (1 - f)(s + w)/Lk),  f = n_r / Hkv.
// razor (RazorAttention, Tang et al. 2024): duo plus one compensation token per streaming
// head holding the mean K and mean V of the dropped tokens (so streaming heads keep
// s + w + 1 slots when anything was dropped).
#include <algorithm>
#include <cmath>

#include "kv_internal.h"

namespace attnbench::kv::detail {
namespace {

class Duo final : public EvictionMethod {
 public:
  Duo(const KvParams& p, bool razor) : EvictionMethod(p), razor_(razor) {}
  int32_t sink() const { return static_cast<int32_t>(p_.geti("sink", 4)); }
  int32_t recent() const { return static_cast<int32_t>(p_.geti("recent", 256)); }
  double retrieval() const { return p_.get("retrieval", 0.5); }
  int32_t n_retrieval(int32_t hkv) const { return static_cast<int32_t>(std::lround(std::clamp(retrieval(), 0.0, 1.0) * hkv)); }
  std::string config() const override {
    return canonical(razor_ ? "razor" : "duo",
                     {{"sink", sink()}, {"recent", recent()}, {"retrieval", retrieval()}, {"elem_bytes", elem_bytes()}});
  }
  /// Slots of a streaming head on this input.
  int64_t streaming_slots(const KvInput& in) const {
    const int64_t sw = std::min<int64_t>(static_cast<int64_t>(sink()) + recent(), in.len_k);
    return sw + ((razor_ && sw < in.len_k) ? 1 : 0);
  }
  uint64_t requested_bytes(const KvInput& in) const override {
    const int32_t nr = n_retrieval(in.heads_kv);
    return static_cast<uint64_t>(nr) * token_bytes(in.len_k, in.head_dim, elem_bytes()) +
           static_cast<uint64_t>(in.heads_kv - nr) * token_bytes(streaming_slots(in), in.head_dim, elem_bytes());
  }
  CompressedCache compress(const KvInput& in) const override {
    validate(in, false);
    const int32_t Lk = in.len_k, d = in.head_dim, nr = n_retrieval(in.heads_kv);
    const int64_t s = std::min<int64_t>(sink(), Lk), sw = std::min<int64_t>(s + recent(), Lk);
    std::vector<std::vector<int32_t>> keep(in.heads_kv);
    for (int j = 0; j < in.heads_kv; ++j) {
      if (j < nr) {
        for (int32_t t = 0; t < Lk; ++t) keep[j].push_back(t);
      } else {
        for (int32_t t = 0; t < s; ++t) keep[j].push_back(t);
        for (int32_t t = static_cast<int32_t>(Lk - (sw - s)); t < Lk; ++t) keep[j].push_back(t);
      }
    }
    CompressedCache c = gather(in, keep, config(), elem_bytes());
    if (!razor_) return c;
    c.bytes_kept = 0;
    for (int j = nr; j < in.heads_kv; ++j) {
      const int32_t lo = static_cast<int32_t>(s), hi = static_cast<int32_t>(Lk - (sw - s));  // dropped [lo, hi)
      if (hi > lo) {
        std::vector<float> mk(d, 0.f), mv(d, 0.f);
        for (int32_t t = lo; t < hi; ++t)
          for (int i = 0; i < d; ++i) {
            mk[i] += in.k[(static_cast<size_t>(j) * Lk + t) * d + i] / (hi - lo);
            mv[i] += in.v[(static_cast<size_t>(j) * Lk + t) * d + i] / (hi - lo);
          }
        HeadCache& h = c.heads[j];
        h.kept.push_back(-1);
        h.k.insert(h.k.end(), mk.begin(), mk.end());
        h.v.insert(h.v.end(), mv.begin(), mv.end());
        h.bytes = token_bytes(h.kept.size(), d, elem_bytes());
      }
    }
    for (const auto& h : c.heads) c.bytes_kept += h.bytes;
    return c;
  }

 private:
  bool razor_;
};

}  // namespace
std::unique_ptr<KvMethod> make_duo(const KvParams& p) { return std::make_unique<Duo>(p, false); }
std::unique_ptr<KvMethod> make_razor(const KvParams& p) { return std::make_unique<Duo>(p, true); }
}  // namespace attnbench::kv::detail

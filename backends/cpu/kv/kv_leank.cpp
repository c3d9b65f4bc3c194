// leank (LeanK, Zhang et al. 2025): a static channel mask on K. Per KV head, a fraction
// `drop` of the key channels is removed for good; V stays full. LeanK learns the mask;
// here the channels dropped are the ones with the lowest mean |k| over the prompt (ties to
// the lower channel index), computed once from the keys alone. Decode uses the masked K
// (dropped channels are zero, i.e. q.k over the kept channels only).
// Bytes per head: Lk * (d - dropped) K elements + Lk * d V elements at elem_bytes (the
// mask itself, d bits per head, is configuration and not counted).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "kv_internal.h"

namespace attnbench::kv::detail {
namespace {

class LeanK final : public KvMethod {
 public:
  using KvMethod::KvMethod;
  double drop() const { return p_.get("drop", 0.5); }
  int32_t elem_bytes() const { return static_cast<int32_t>(p_.geti("elem_bytes", 2)); }
  std::string config() const override { return canonical("leank", {{"drop", drop()}, {"elem_bytes", elem_bytes()}}); }
  int32_t dropped(int32_t d) const {
    if (!(drop() >= 0.0 && drop() < 1.0)) throw std::invalid_argument("leank: drop must be in [0, 1)");
    return std::min<int32_t>(static_cast<int32_t>(std::lround(drop() * d)), d - 1);
  }
  uint64_t requested_bytes(const KvInput& in) const override {
    const uint64_t d = in.head_dim, kept_ch = d - dropped(in.head_dim);
    return static_cast<uint64_t>(in.heads_kv) * in.len_k * (kept_ch + d) * elem_bytes();
  }
  CompressedCache compress(const KvInput& in) const override {
    validate(in, false);
    const int32_t Lk = in.len_k, d = in.head_dim, nd = dropped(d);
    CompressedCache c;
    c.config = config(), c.heads_kv = in.heads_kv, c.len_k = Lk, c.head_dim = d;
    c.bytes_full = in.heads_kv * token_bytes(Lk, d, elem_bytes());
    c.heads.resize(in.heads_kv);
    for (int j = 0; j < in.heads_kv; ++j) {
      HeadCache& h = c.heads[j];
      const float* K = in.k + static_cast<size_t>(j) * Lk * d;
      const float* V = in.v + static_cast<size_t>(j) * Lk * d;
      std::vector<double> mag(d, 0.0);
      for (int32_t t = 0; t < Lk; ++t)
        for (int e = 0; e < d; ++e) mag[e] += std::fabs(K[static_cast<size_t>(t) * d + e]);
      std::vector<int32_t> ch(d);
      std::iota(ch.begin(), ch.end(), 0);
      std::stable_sort(ch.begin(), ch.end(), [&](int32_t a, int32_t b) { return mag[a] < mag[b]; });
      std::vector<char> masked(d, 0);
      for (int i = 0; i < nd; ++i) masked[ch[i]] = 1;
      h.k.assign(K, K + static_cast<size_t>(Lk) * d);
      h.v.assign(V, V + static_cast<size_t>(Lk) * d);
      for (int32_t t = 0; t < Lk; ++t)
        for (int e = 0; e < d; ++e)
          if (masked[e]) h.k[static_cast<size_t>(t) * d + e] = 0.f;
      h.kept.resize(Lk);
      std::iota(h.kept.begin(), h.kept.end(), 0);
      h.bytes = static_cast<uint64_t>(Lk) * (2 * d - nd) * elem_bytes();
      c.bytes_kept += h.bytes;
    }
    c.extra_metrics["key_channels_kept_fraction"] = static_cast<double>(d - nd) / d;
    return c;
  }
};

}  // namespace
std::unique_ptr<KvMethod> make_leank(const KvParams& p) { return std::make_unique<LeanK>(p); }
}  // namespace attnbench::kv::detail

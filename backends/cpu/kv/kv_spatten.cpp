// spatten (Wang et al. 2021, SpAtten): cascade token pruning plus progressive quantisation.
// Pruning: tokens are ranked by cumulative attention importance (the attention every
// prompt query pays them, as in h2o, summed over the GQA group) and pruned in `stages`
// cascade steps, geometrically from Lk down to the budget; each step recomputes the
// scores with softmax over the surviving tokens only (a pruned token neither receives nor
// absorbs attention in later steps). SpAtten prunes across layers; one layer here runs
// the cascade within the layer. Per KV head, so every head keeps `budget` tokens.
// Quantisation: kept K and V are stored per token, asymmetric linear `bits` (8 or 4) with
// fp16 scale + zero point per token per tensor, codes laid out as bit planes with the most
// significant bits first (SpAtten fetches MSBs first and LSBs only for flat attention;
// decode here always reads all `bits`). Bytes per head and tensor: ceil(n*d*bits/8) + 4n.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>

#include "kv_internal.h"
#include "kv_quant_common.h"

namespace attnbench::kv::detail {
namespace {

class SpAtten final : public KvMethod {
 public:
  using KvMethod::KvMethod;
  bool needs_context_queries() const override { return true; }
  int bits() const { return static_cast<int>(p_.geti("bits", 8)); }
  int32_t stages() const { return static_cast<int32_t>(p_.geti("stages", 3)); }
  int32_t elem_bytes() const { return static_cast<int32_t>(p_.geti("elem_bytes", 2)); }
  std::string config() const override {
    return canonical("spatten", {{"budget", p_.geti("budget", 256)}, {"bits", bits()}, {"stages", stages()}, {"elem_bytes", elem_bytes()}});
  }
  static uint64_t tensor_bytes(uint64_t n, uint64_t d, int bits) { return (n * d * bits + 7) / 8 + n * 2 * 2; }
  uint64_t requested_bytes(const KvInput& in) const override {
    return static_cast<uint64_t>(in.heads_kv) * 2 * tensor_bytes(budget_tokens(p_, in.len_k), in.head_dim, bits());
  }

  CompressedCache compress(const KvInput& in) const override {
    validate(in, true);
    if (bits() != 8 && bits() != 4) throw std::invalid_argument("spatten: bits must be 8 or 4");
    if (stages() < 1) throw std::invalid_argument("spatten: stages must be >= 1");
    const int32_t Lk = in.len_k, d = in.head_dim, b = budget_tokens(p_, Lk);
    std::vector<std::vector<int32_t>> keep(in.heads_kv);
    for (auto& k : keep)
      for (int32_t t = 0; t < Lk; ++t) k.push_back(t);
    for (int32_t s = 1; s <= stages() && b < Lk; ++s) {
      const int32_t target = s == stages() ? b
          : std::max<int32_t>(b, static_cast<int32_t>(std::lround(Lk * std::pow(static_cast<double>(b) / Lk, static_cast<double>(s) / stages()))));
      const auto score = s == 1 ? accumulated_attention(in, [](int32_t) { return 1.0; }) : survivor_attention(in, keep);
      for (int j = 0; j < in.heads_kv; ++j) {
        std::vector<double> sc(Lk, -1.0);  // pruned tokens rank last (never re-admitted)
        for (int32_t t : keep[j]) sc[t] = score[j][t];
        auto next = top_with(sc, target, {});
        keep[j] = std::move(next);
      }
    }
    // Quantise the kept tokens.
    const uint32_t qmax = (1u << bits()) - 1;
    CompressedCache c;
    c.config = config(), c.heads_kv = in.heads_kv, c.len_k = Lk, c.head_dim = d;
    c.bytes_full = in.heads_kv * token_bytes(Lk, d, elem_bytes());
    c.heads.resize(in.heads_kv);
    for (int j = 0; j < in.heads_kv; ++j) {
      HeadCache& h = c.heads[j];
      h.kept = keep[j];
      const size_t n = h.kept.size();
      h.k.resize(n * d), h.v.resize(n * d);
      for (int which = 0; which < 2; ++which) {
        const float* src = (which ? in.v : in.k) + static_cast<size_t>(j) * Lk * d;
        float* dst = which ? h.v.data() : h.k.data();
        std::vector<uint32_t> codes(n * d);
        for (size_t i = 0; i < n; ++i) {
          const float* x = src + static_cast<size_t>(h.kept[i]) * d;
          float lo = INFINITY, hi = -INFINITY;
          for (int e = 0; e < d; ++e) lo = std::min(lo, x[e]), hi = std::max(hi, x[e]);
          const float zero = to_fp16(lo), scale = to_fp16((hi - lo) / qmax);
          for (int e = 0; e < d; ++e) {
            const uint32_t code = scale > 0 ? static_cast<uint32_t>(std::clamp(std::nearbyint((x[e] - zero) / scale), 0.f, static_cast<float>(qmax))) : 0u;
            codes[i * d + e] = code;
            dst[i * d + e] = zero + code * scale;
          }
        }
        BitPacker planes(1);  // MSB plane first, then the lower planes
        for (int bit = bits() - 1; bit >= 0; --bit)
          for (uint32_t code : codes) planes.push((code >> bit) & 1u);
        h.bytes += planes.bytes() + n * 2 * 2;
      }
      c.bytes_kept += h.bytes;
    }
    return c;
  }

 private:
  /// Accumulated attention of every prompt row over the surviving tokens (causal, softmax
  /// over survivors <= row), summed over the GQA group: [heads_kv][len_k].
  static std::vector<std::vector<double>> survivor_attention(const KvInput& in, const std::vector<std::vector<int32_t>>& keep) {
    const int32_t Lk = in.len_k, d = in.head_dim, g = in.heads_q / in.heads_kv;
    const double scale = 1.0 / std::sqrt(static_cast<double>(d));
    std::vector<std::vector<double>> part(in.heads_q, std::vector<double>(Lk, 0.0));
    tbb::parallel_for(0, in.heads_q, [&](int h) {
      const int j = h / g;
      const auto& S = keep[j];
      const float* K = in.k + static_cast<size_t>(j) * Lk * d;
      std::vector<double> s(S.size());
      for (int32_t t = 0; t < Lk; ++t) {
        const size_t n = std::upper_bound(S.begin(), S.end(), t) - S.begin();
        if (!n) continue;
        const float* q = in.q_context + (static_cast<size_t>(h) * Lk + t) * d;
        double m = -INFINITY, z = 0;
        for (size_t i = 0; i < n; ++i) {
          const float* kr = K + static_cast<size_t>(S[i]) * d;
          float dot = 0.f;
          for (int e = 0; e < d; ++e) dot += q[e] * kr[e];
          m = std::max(m, s[i] = dot * scale);
        }
        for (size_t i = 0; i < n; ++i) z += (s[i] = std::exp(s[i] - m));
        for (size_t i = 0; i < n; ++i) part[h][S[i]] += s[i] / z;
      }
    });
    std::vector<std::vector<double>> acc(in.heads_kv, std::vector<double>(Lk, 0.0));
    for (int h = 0; h < in.heads_q; ++h)
      for (int32_t p = 0; p < Lk; ++p) acc[h / g][p] += part[h][p];
    return acc;
  }
};

}  // namespace
std::unique_ptr<KvMethod> make_spatten(const KvParams& p) { return std::make_unique<SpAtten>(p); }
}  // namespace attnbench::kv::detail

// kivi (Liu et al. 2024, KIVI): keys quantised per channel (outlier channels in K make
// per-token key quantisation poor), values per token, to `bits` (2 or 4) with groups of
// `group` elements, asymmetric (fp16 scale + zero point per group); the most recent
// tokens stay in full precision: the last `residual` tokens plus the tail that does not
// fill a whole key group. Bytes are the real packed sizes.
#include <algorithm>
#include <cmath>

#include "kv_internal.h"
#include "kv_quant_common.h"

namespace attnbench::kv::detail {
namespace {

class Kivi final : public KvMethod {
 public:
  using KvMethod::KvMethod;
  int bits() const { return static_cast<int>(p_.geti("bits", 2)); }
  int32_t group() const { return static_cast<int32_t>(p_.geti("group", 32)); }
  int32_t residual() const { return static_cast<int32_t>(p_.geti("residual", 128)); }
  int32_t elem_bytes() const { return static_cast<int32_t>(p_.geti("elem_bytes", 2)); }
  std::string config() const override {
    return canonical("kivi", {{"bits", bits()}, {"group", group()}, {"residual", residual()}, {"elem_bytes", elem_bytes()}});
  }
  int32_t quantised_tokens(int32_t Lk) const { return std::max(0, Lk - residual()) / group() * group(); }
  uint64_t requested_bytes(const KvInput& in) const override {
    const uint64_t nq = quantised_tokens(in.len_k), d = in.head_dim, G = group(), Gv = std::min<uint64_t>(G, d);
    const uint64_t packed = (nq * d * bits() + 7) / 8;
    const uint64_t groups = (nq / G) * d + nq * ((d + Gv - 1) / Gv);
    return in.heads_kv * (2 * packed + groups * 2 * 2 + token_bytes(in.len_k - nq, in.head_dim, elem_bytes()));
  }
  CompressedCache compress(const KvInput& in) const override {
    validate(in, false);
    if (bits() < 1 || bits() > 8 || group() < 1) throw std::invalid_argument("kivi: bits in 1..8 and group >= 1");
    const int32_t Lk = in.len_k, d = in.head_dim, G = group(), Gv = std::min(G, d), nq = quantised_tokens(Lk);
    const uint32_t qmax = (1u << bits()) - 1;
    CompressedCache c;
    c.config = config(), c.heads_kv = in.heads_kv, c.len_k = Lk, c.head_dim = d;
    c.bytes_full = in.heads_kv * token_bytes(Lk, d, elem_bytes());
    c.heads.resize(in.heads_kv);
    // Quantises x[idx(i)] for i < n as one group; writes dequantised values; returns #scales.
    auto quant_group = [&](BitPacker& pk, const float* src, float* dst, int n, int stride) {
      float lo = INFINITY, hi = -INFINITY;
      for (int i = 0; i < n; ++i) lo = std::min(lo, src[i * stride]), hi = std::max(hi, src[i * stride]);
      const float zero = to_fp16(lo), scale = to_fp16((hi - lo) / qmax);
      for (int i = 0; i < n; ++i) {
        const float x = src[i * stride];
        const uint32_t code = scale > 0 ? static_cast<uint32_t>(std::clamp(std::nearbyint((x - zero) / scale), 0.f, static_cast<float>(qmax))) : 0u;
        pk.push(code);
        dst[i * stride] = zero + code * scale;
      }
    };
    for (int j = 0; j < in.heads_kv; ++j) {
      HeadCache& h = c.heads[j];
      const float* K = in.k + static_cast<size_t>(j) * Lk * d;
      const float* V = in.v + static_cast<size_t>(j) * Lk * d;
      h.k.assign(K, K + static_cast<size_t>(Lk) * d);
      h.v.assign(V, V + static_cast<size_t>(Lk) * d);
      for (int32_t t = 0; t < Lk; ++t) h.kept.push_back(t);
      BitPacker pk(bits()), pv(bits());
      uint64_t scales = 0;
      for (int32_t t0 = 0; t0 < nq; t0 += G)  // keys: per channel over G tokens
        for (int ch = 0; ch < d; ++ch, ++scales) quant_group(pk, K + static_cast<size_t>(t0) * d + ch, h.k.data() + static_cast<size_t>(t0) * d + ch, G, d);
      for (int32_t t = 0; t < nq; ++t)  // values: per token over Gv channels
        for (int c0 = 0; c0 < d; c0 += Gv, ++scales) {
          const int n = std::min(Gv, d - c0);
          quant_group(pv, V + static_cast<size_t>(t) * d + c0, h.v.data() + static_cast<size_t>(t) * d + c0, n, 1);
        }
      h.bytes = pk.bytes() + pv.bytes() + scales * 2 * 2 + token_bytes(Lk - nq, d, elem_bytes());
      c.bytes_kept += h.bytes;
    }
    return c;
  }
};

}  // namespace
std::unique_ptr<KvMethod> make_kivi(const KvParams& p) { return std::make_unique<Kivi>(p); }
}  // namespace attnbench::kv::detail

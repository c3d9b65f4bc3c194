// int8: per-token symmetric int8 quantisation of K and V (one fp16 scale per token per
// tensor), the common production baseline. Bytes: Lk*d int8 + Lk fp16 scales, each of K, V.
#include <algorithm>
#include <cmath>

#include "kv_internal.h"
#include "kv_quant_common.h"

namespace attnbench::kv::detail {
namespace {

class Int8 final : public KvMethod {
 public:
  using KvMethod::KvMethod;
  std::string config() const override { return canonical("int8", {{"elem_bytes", p_.geti("elem_bytes", 2)}}); }
  uint64_t requested_bytes(const KvInput& in) const override {
    return static_cast<uint64_t>(in.heads_kv) * in.len_k * 2 * (static_cast<uint64_t>(in.head_dim) + 2);
  }
  CompressedCache compress(const KvInput& in) const override {
    validate(in, false);
    const int32_t Lk = in.len_k, d = in.head_dim;
    CompressedCache c;
    c.config = config(), c.heads_kv = in.heads_kv, c.len_k = Lk, c.head_dim = d;
    c.bytes_full = in.heads_kv * token_bytes(Lk, d, static_cast<int32_t>(p_.geti("elem_bytes", 2)));
    c.heads.resize(in.heads_kv);
    for (int j = 0; j < in.heads_kv; ++j) {
      HeadCache& h = c.heads[j];
      std::vector<int8_t> codes;
      std::vector<uint16_t> scales;  // fp16 bit patterns: stored size is what counts
      h.k.resize(static_cast<size_t>(Lk) * d), h.v.resize(static_cast<size_t>(Lk) * d);
      for (int which = 0; which < 2; ++which) {
        const float* src = (which ? in.v : in.k) + static_cast<size_t>(j) * Lk * d;
        float* dst = which ? h.v.data() : h.k.data();
        for (int32_t t = 0; t < Lk; ++t) {
          float amax = 0.f;
          for (int i = 0; i < d; ++i) amax = std::max(amax, std::fabs(src[static_cast<size_t>(t) * d + i]));
          const float s = to_fp16(amax / 127.f);
          scales.push_back(0);
          for (int i = 0; i < d; ++i) {
            const float x = src[static_cast<size_t>(t) * d + i];
            const int8_t q = s > 0 ? static_cast<int8_t>(std::clamp(std::nearbyint(x / s), -127.f, 127.f)) : 0;
            codes.push_back(q);
            dst[static_cast<size_t>(t) * d + i] = q * s;
          }
        }
      }
      for (int32_t t = 0; t < Lk; ++t) h.kept.push_back(t);
      h.bytes = codes.size() * sizeof(int8_t) + scales.size() * sizeof(uint16_t);
      c.bytes_kept += h.bytes;
    }
    return c;
  }
};

}  // namespace
std::unique_ptr<KvMethod> make_int8(const KvParams& p) { return std::make_unique<Int8>(p); }
}  // namespace attnbench::kv::detail

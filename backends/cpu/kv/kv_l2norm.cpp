// l2norm (Devoto et al. 2024): keys that draw the most attention tend to have LOW L2
// norm, so keep the budget tokens with the lowest key norm. Needs no scores or queries.
#include <cmath>

#include "kv_internal.h"

namespace attnbench::kv::detail {
namespace {

class L2Norm final : public EvictionMethod {
 public:
  using EvictionMethod::EvictionMethod;
  std::string config() const override {
    return canonical("l2norm", {{"budget", p_.geti("budget", 256)}, {"elem_bytes", elem_bytes()}});
  }
  CompressedCache compress(const KvInput& in) const override {
    validate(in, false);
    const int32_t b = budget_tokens(p_, in.len_k), d = in.head_dim;
    std::vector<std::vector<int32_t>> keep;
    for (int j = 0; j < in.heads_kv; ++j) {
      std::vector<double> neg_norm(in.len_k);
      for (int32_t t = 0; t < in.len_k; ++t) {
        const float* kr = in.k + (static_cast<size_t>(j) * in.len_k + t) * d;
        double s = 0;
        for (int i = 0; i < d; ++i) s += static_cast<double>(kr[i]) * kr[i];
        neg_norm[t] = -std::sqrt(s);
      }
      keep.push_back(top_with(neg_norm, b, {}));
    }
    return gather(in, keep, config(), elem_bytes());
  }
};

}  // namespace
std::unique_ptr<KvMethod> make_l2norm(const KvParams& p) { return std::make_unique<L2Norm>(p); }
}  // namespace attnbench::kv::detail

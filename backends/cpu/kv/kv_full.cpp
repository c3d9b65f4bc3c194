// full: no compression, the baseline every method is compared with.
#include <numeric>

#include "kv_internal.h"

namespace attnbench::kv::detail {
namespace {

class Full final : public EvictionMethod {
 public:
  using EvictionMethod::EvictionMethod;
  std::string config() const override { return canonical("full", {{"elem_bytes", elem_bytes()}}); }
  uint64_t requested_bytes(const KvInput& in) const override {
    return in.heads_kv * token_bytes(in.len_k, in.head_dim, elem_bytes());
  }
  CompressedCache compress(const KvInput& in) const override {
    validate(in, false);
    std::vector<int32_t> all(in.len_k);
    std::iota(all.begin(), all.end(), 0);
    return gather(in, std::vector<std::vector<int32_t>>(in.heads_kv, all), config(), elem_bytes());
  }
};

}  // namespace
std::unique_ptr<KvMethod> make_full(const KvParams& p) { return std::make_unique<Full>(p); }
}  // namespace attnbench::kv::detail

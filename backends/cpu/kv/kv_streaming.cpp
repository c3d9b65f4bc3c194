// streaming (StreamingLLM, Xiao et al. 2023): keep the first `sink` tokens (attention
// sinks) and the most recent budget - sink tokens.
#include "kv_internal.h"

namespace attnbench::kv::detail {
namespace {

class Streaming final : public EvictionMethod {
 public:
  using EvictionMethod::EvictionMethod;
  std::string config() const override {
    return canonical("streaming", {{"budget", p_.geti("budget", 256)}, {"sink", sink()}, {"elem_bytes", elem_bytes()}});
  }
  int32_t sink() const { return static_cast<int32_t>(p_.geti("sink", 4)); }
  CompressedCache compress(const KvInput& in) const override {
    validate(in, false);
    const int32_t b = budget_tokens(p_, in.len_k);
    const int32_t s = std::min(sink(), b);
    std::vector<int32_t> keep;
    for (int32_t t = 0; t < s; ++t) keep.push_back(t);
    for (int32_t t = in.len_k - (b - s); t < in.len_k; ++t) keep.push_back(t);
    return gather(in, std::vector<std::vector<int32_t>>(in.heads_kv, keep), config(), elem_bytes());
  }
};

}  // namespace
std::unique_ptr<KvMethod> make_streaming(const KvParams& p) { return std::make_unique<Streaming>(p); }
}  // namespace attnbench::kv::detail

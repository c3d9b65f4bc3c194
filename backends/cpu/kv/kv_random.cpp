// random: keep a seeded random subset of budget tokens per head; the floor every method
// must beat.
#include <algorithm>
#include <numeric>

#include "counter_rng.h"
#include "kv_internal.h"

namespace attnbench::kv::detail {
namespace {

class Random final : public EvictionMethod {
 public:
  using EvictionMethod::EvictionMethod;
  std::string config() const override {
    return canonical("random", {{"budget", p_.geti("budget", 256)}, {"seed", p_.geti("seed", 0)}, {"elem_bytes", elem_bytes()}});
  }
  CompressedCache compress(const KvInput& in) const override {
    validate(in, false);
    const int32_t b = budget_tokens(p_, in.len_k);
    std::vector<std::vector<int32_t>> keep;
    for (int j = 0; j < in.heads_kv; ++j) {
      const gen::StreamKey s{static_cast<uint64_t>(p_.geti("seed", 0)), static_cast<uint64_t>(in.layer), 0x72616e64ull + j};
      std::vector<int32_t> idx(in.len_k);
      std::iota(idx.begin(), idx.end(), 0);
      for (int32_t i = 0; i < b; ++i) {  // partial Fisher-Yates
        const int32_t r = i + static_cast<int32_t>(s.uniform(i) * (in.len_k - i));
        std::swap(idx[i], idx[r]);
      }
      idx.resize(b);
      std::sort(idx.begin(), idx.end());
      keep.push_back(idx);
    }
    return gather(in, keep, config(), elem_bytes());
  }
};

}  // namespace
std::unique_ptr<KvMethod> make_random(const KvParams& p) { return std::make_unique<Random>(p); }
}  // namespace attnbench::kv::detail

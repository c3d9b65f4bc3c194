// Shared helpers of the KV methods (not part of the public interface).
#pragma once

#include <functional>
#include <initializer_list>
#include <utility>
#include <vector>

#include "kv_method.h"

namespace attnbench::kv::detail {

/// "name:k=v,..." with the given keys in order, values from p (defaults applied).
std::string canonical(const std::string& name, std::initializer_list<std::pair<const char*, double>> kv);

/// Validates shapes and pointers of an input; throws std::invalid_argument.
void validate(const KvInput& in, bool needs_queries);

/// Cache holding the given token slots of every head (fp, elem_bytes per element).
CompressedCache gather(const KvInput& in, const std::vector<std::vector<int32_t>>& kept,
                       const std::string& config, int32_t elem_bytes);

/// Indices of the `count` largest scores among tokens not in `forced`, merged with
/// `forced`, sorted ascending. Ties break to the lower index (deterministic).
std::vector<int32_t> top_with(const std::vector<double>& score, int32_t count, std::vector<int32_t> forced);

/// Sum over query rows t (weight w(t) != 0) and over the GQA group of the causal
/// softmax attention of q_context row t; returns [heads_kv][len_k]. Exact, fp64.
std::vector<std::vector<double>> accumulated_attention(const KvInput& in, const std::function<double(int32_t)>& w);

/// Adds to acc[i] the softmax attention that query row t of every query head of KV
/// group j pays to cached token cache[i] (scores over the cache only, as an online
/// eviction method sees them). s is scratch of cache.size() entries.
void add_group_attention(const KvInput& in, int32_t j, int32_t t, const std::vector<int32_t>& cache,
                         std::vector<double>& s, std::vector<double>& acc);

/// Budget in tokens per head, clipped to len_k; throws when budget < 1.
int32_t budget_tokens(const KvParams& p, int32_t len_k);

/// Base of token-eviction methods: requested bytes = Hkv * min(budget, Lk) fp tokens.
class EvictionMethod : public KvMethod {
 public:
  using KvMethod::KvMethod;
  uint64_t requested_bytes(const KvInput& in) const override;
  int32_t elem_bytes() const { return static_cast<int32_t>(p_.geti("elem_bytes", 2)); }
};

// Factories, one per method file.
std::unique_ptr<KvMethod> make_full(const KvParams&);
std::unique_ptr<KvMethod> make_streaming(const KvParams&);
std::unique_ptr<KvMethod> make_h2o(const KvParams&);
std::unique_ptr<KvMethod> make_a2sf(const KvParams&);
std::unique_ptr<KvMethod> make_tova(const KvParams&);
std::unique_ptr<KvMethod> make_snapkv(const KvParams&);
std::unique_ptr<KvMethod> make_pyramidkv(const KvParams&);
std::unique_ptr<KvMethod> make_l2norm(const KvParams&);
std::unique_ptr<KvMethod> make_expected_attention(const KvParams&);
std::unique_ptr<KvMethod> make_duo(const KvParams&);
std::unique_ptr<KvMethod> make_razor(const KvParams&);
std::unique_ptr<KvMethod> make_kivi(const KvParams&);
std::unique_ptr<KvMethod> make_int8(const KvParams&);
std::unique_ptr<KvMethod> make_random(const KvParams&);
std::unique_ptr<KvMethod> make_retrieval_offload(const KvParams&);
std::unique_ptr<KvMethod> make_leank(const KvParams&);
std::unique_ptr<KvMethod> make_spatten(const KvParams&);

}  // namespace attnbench::kv::detail

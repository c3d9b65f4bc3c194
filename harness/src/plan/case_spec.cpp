#include "case_spec.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "attnbench/dtype.h"
#include "backward_model.h"
#include "suite_file.h"  // suite_limits: the documented bounds of a shape

namespace attnbench {

std::string Shape::canonical() const {
  std::string s = fmt::format("b={},hq={},hkv={},lq={},lk={},d={},{}", batch, heads_q, heads_kv, len_q, len_k,
                              head_dim, dtype_name(dtype));
  if (page_size > 0) s += fmt::format(",page={}", page_size);
  if (varlen) s += ",varlen";
  if (shared_prefix > 0) s += fmt::format(",prefix={}", shared_prefix);
  if (dv() != head_dim) s += fmt::format(",dv={}", dv());
  return s;
}

void Shape::validate() const {
  using namespace suite_limits;
  auto fail = [this](const std::string& why) {
    throw std::invalid_argument(fmt::format("invalid shape {}: {}", canonical(), why));
  };
  if (batch < 1 || batch > kMaxBatch) fail(fmt::format("batch must be in 1..{}", kMaxBatch));
  if (heads_q < 1 || heads_kv < 1) fail("head counts must be at least 1");
  if (heads_q > kMaxHeads || heads_kv > kMaxHeads) fail(fmt::format("head counts must be at most {}", kMaxHeads));
  if (heads_q % heads_kv != 0) fail(fmt::format("heads_q {} is not a multiple of heads_kv {}", heads_q, heads_kv));
  if (len_q < 0 || len_k < 0) fail("lengths must not be negative");
  if (len_q > kMaxLen || len_k > kMaxLen) fail(fmt::format("lengths must be at most {}", kMaxLen));
  if (head_dim < 1 || head_dim > kMaxAttentionHeadDim)
    fail(fmt::format("head_dim must be in 1..{}", kMaxAttentionHeadDim));
  if (head_dim_v < 0 || head_dim_v > kMaxAttentionHeadDim)
    fail(fmt::format("head_dim_v must be in 0..{}", kMaxAttentionHeadDim));
  if (shared_prefix < 0 || shared_prefix > len_k) fail("shared_prefix must be in 0..len_k");
  if (page_size < 0 || page_size > kMaxPageSize || (page_size > 0 && (page_size & (page_size - 1)) != 0))
    fail(fmt::format("page_size must be 0 or a power of two up to {}", kMaxPageSize));
  // Every factor is bounded above (2^16 * 2^12 * 2^24 * 2^8 = 2^60), so these int64
  // products cannot overflow. Each tensor must stay within int32 element offsets: the ABI
  // passes sizes as int32 and kernels index rows with int.
  const int64_t q_elements = int64_t{batch} * heads_q * len_q * std::max(head_dim, dv());  // Q and O
  const int64_t kv_tokens = page_size > 0 ? (int64_t{len_k} + page_size - 1) / page_size * page_size : len_k;
  const int64_t kv_elements = int64_t{batch} * heads_kv * kv_tokens * std::max(head_dim, dv());  // K, V (page pool)
  if (q_elements > kMaxTensorElements || kv_elements > kMaxTensorElements)
    fail(fmt::format("a tensor exceeds {} elements (Q/O {}, K/V {})", kMaxTensorElements, q_elements, kv_elements));
  if (2 * (q_elements + kv_elements) > int64_t{8'000'000'000}) fail("tensors exceed 8e9 elements");
}

std::string CaseSpec::config_string() const { return recall ? recall->config() : config.canonical(); }

std::string CaseSpec::key() const {
  if (recall) return fmt::format("{}|{}|{}|{}", suite, backend, recall->config(), recall->shape());
  // A backward case shares its configuration and shape with the forward case of the same
  // suite: the phase tells them apart (and --filter 'backward' selects them).
  if (phase == kBackwardPhase)
    return fmt::format("{}|{}|{}|{}|{}", suite, backend, config.canonical(), shape.canonical(), phase);
  return fmt::format("{}|{}|{}|{}", suite, backend, config.canonical(), shape.canonical());
}

ab_dtype parse_dtype(const std::string& name) {
  if (name == "fp32" || name == "f32" || name == "float32") return AB_F32;
  if (name == "bf16" || name == "bfloat16") return AB_BF16;
  if (name == "fp16" || name == "f16" || name == "float16") return AB_F16;
  throw std::invalid_argument(fmt::format("unknown dtype '{}' (fp32, bf16, fp16)", name));
}

double error_threshold(ab_dtype dtype) { return dtype == AB_F32 ? 1e-5 : 1e-2; }

}  // namespace attnbench

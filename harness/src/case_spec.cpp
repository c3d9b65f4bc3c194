#include "case_spec.h"

#include <fmt/format.h>

#include <stdexcept>

#include "attnbench/dtype.h"

namespace attnbench {

std::string Shape::canonical() const {
  std::string s = fmt::format("b={},hq={},hkv={},lq={},lk={},d={},{}", batch, heads_q, heads_kv, len_q, len_k,
                              head_dim, dtype_name(dtype));
  if (page_size > 0) s += fmt::format(",page={}", page_size);
  if (varlen) s += ",varlen";
  if (shared_prefix > 0) s += fmt::format(",prefix={}", shared_prefix);
  return s;
}

void Shape::validate() const {
  auto fail = [this](const std::string& why) {
    throw std::invalid_argument(fmt::format("invalid shape {}: {}", canonical(), why));
  };
  if (batch < 1) fail("batch must be at least 1");
  if (heads_q < 1 || heads_kv < 1) fail("head counts must be at least 1");
  if (heads_q % heads_kv != 0) fail(fmt::format("heads_q {} is not a multiple of heads_kv {}", heads_q, heads_kv));
  if (len_q < 0 || len_k < 0) fail("lengths must not be negative");
  if (head_dim < 1 || head_dim > 256) fail("head_dim must be in 1..256");
  if (shared_prefix < 0 || shared_prefix > len_k) fail("shared_prefix must be in 0..len_k");
  if (page_size < 0 || (page_size > 0 && (page_size & (page_size - 1)) != 0))
    fail("page_size must be 0 or a power of two");
  const double elements = static_cast<double>(batch) * (static_cast<double>(heads_q) * len_q * 2 +
                                                        static_cast<double>(heads_kv) * len_k * 2) * head_dim;
  if (elements > 8e9) fail("tensors exceed 8e9 elements");
}

std::string CaseSpec::config_string() const { return recall ? recall->config() : config.canonical(); }

std::string CaseSpec::key() const {
  if (recall) return fmt::format("{}|{}|{}|{}", suite, backend, recall->config(), recall->shape());
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

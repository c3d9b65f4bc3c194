// KV method configuration strings: "name:key=value,key=value" with numeric values, e.g.
// "snapkv:budget=256,window=32,pool=7". Common keys: budget (tokens per KV head; eviction
// methods count every kept slot, windows and sinks included), elem_bytes (bytes per stored
// fp element, default 2 = fp16). Canonical forms list every parameter a method reads in a
// fixed order; they are database keys, so their spelling never changes.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <utility>

namespace attnbench::kv {

/// Parsed "name:k=v,..." configuration.
struct KvParams {
  std::string name;
  std::map<std::string, double> values;
  /// Value of key, or def when absent.
  double get(const std::string& key, double def) const;
  /// Integer value of key, or def.
  int64_t geti(const std::string& key, int64_t def) const { return static_cast<int64_t>(get(key, static_cast<double>(def))); }
};

/// Parses a config string; throws std::invalid_argument on malformed input.
KvParams parse_kv_config(std::string_view config);

/// "name:k=v,..." with the given keys in order (integers without a decimal point, others %g).
std::string canonical_config(const std::string& name, std::initializer_list<std::pair<const char*, double>> kv);

/// Budget in tokens per head ("budget", default 256), clipped to len_k; throws when < 1.
int32_t budget_tokens(const KvParams& p, int32_t len_k);

/// Bytes of `tokens` fp tokens (K and V) of one head.
inline uint64_t token_bytes(uint64_t tokens, int32_t head_dim, int32_t elem_bytes) {
  return tokens * 2ull * static_cast<uint64_t>(head_dim) * static_cast<uint64_t>(elem_bytes);
}

}  // namespace attnbench::kv

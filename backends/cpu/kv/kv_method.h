// One interface for every KV-cache compression method (CATALOG "KV-cache compression
// methods", tier 1). A method gets a prefilled cache plus only the observation it is
// allowed, a budget, and its parameters, and returns the cache decode attends to,
// with the bytes it actually stores. check_budget() compares those bytes with the bytes
// the configuration asks for, computed independently, so a method that silently keeps
// everything (or nothing) fails loudly.
//
// Config strings: "name:key=value,key=value", e.g. "snapkv:budget=256,window=32,pool=7".
// Common keys: budget (tokens per KV head; eviction methods count every kept slot,
// windows and sinks included), elem_bytes (bytes per stored fp element, default 2 = fp16).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace attnbench::kv {

/// Prefilled cache of one layer plus the observation a method may read.
struct KvInput {
  int32_t heads_q = 0, heads_kv = 0, len_k = 0, head_dim = 0;
  const float* k = nullptr;  ///< [heads_kv, len_k, head_dim] (post-RoPE, as cached)
  const float* v = nullptr;  ///< [heads_kv, len_k, head_dim]
  /// [heads_q, len_k, head_dim]: the query of every prompt token (causal: row t sees keys
  /// 0..t). Accumulated-score methods read all rows, observation-window methods read the
  /// last `window` rows, key-only methods read none. Null = not observed.
  const float* q_context = nullptr;
  int32_t layer = 0, num_layers = 1;
};

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

/// What one KV head keeps.
struct HeadCache {
  /// Source token of every slot, ascending for evicted caches; -1 marks a synthetic slot
  /// (RazorAttention compensation token).
  std::vector<int32_t> kept;
  std::vector<float> k, v;  ///< [kept.size(), head_dim]; dequantised for quantisers
  uint64_t bytes = 0;       ///< bytes this head actually stores (packed for quantisers)
};

/// The cache decode attends to.
struct CompressedCache {
  std::string config;  ///< canonical config string of the method that produced it
  int32_t heads_kv = 0, len_k = 0, head_dim = 0;
  std::vector<HeadCache> heads;
  uint64_t bytes_kept = 0;  ///< sum of heads[].bytes
  uint64_t bytes_full = 0;  ///< the uncompressed cache at elem_bytes per element
  /// Method-specific metrics (e.g. retrieval_offload "scanned_fraction"); empty for most.
  std::map<std::string, double> extra_metrics;
  /// bytes_full / bytes_kept.
  double compression_ratio() const { return bytes_kept ? static_cast<double>(bytes_full) / bytes_kept : 0.0; }
};

/// Raised by require_budget when kept bytes differ from requested bytes.
struct BudgetMismatch : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// A compression method.
class KvMethod {
 public:
  explicit KvMethod(KvParams p) : p_(std::move(p)) {}
  virtual ~KvMethod() = default;
  /// Canonical config string: name plus every parameter in a fixed order.
  virtual std::string config() const = 0;
  /// True when compress() reads KvInput::q_context.
  virtual bool needs_context_queries() const { return false; }
  /// Compresses one layer.
  virtual CompressedCache compress(const KvInput& in) const = 0;
  /// Compresses every layer of a model (pyramidkv shapes budgets across layers).
  virtual std::vector<CompressedCache> compress_layers(std::span<const KvInput> layers) const;
  /// Bytes the configuration asks for on this input, from the configuration alone.
  virtual uint64_t requested_bytes(const KvInput& in) const = 0;
  const KvParams& params() const { return p_; }

 protected:
  KvParams p_;
};

/// Builds a method from its config string; throws std::invalid_argument on unknown names.
std::unique_ptr<KvMethod> make_kv_method(std::string_view config);

/// Every method name make_kv_method accepts.
std::vector<std::string> kv_method_names();

/// Result of a budget check.
struct BudgetCheck {
  bool ok = false;
  uint64_t requested = 0, kept = 0;
  std::string error;  ///< why it failed (empty when ok)
};

/// Checks a compressed cache against the configuration: kept bytes == requested bytes,
/// bytes_kept == sum of heads, every head has slots and consistent k/v sizes, and a
/// method that keeps every token without being asked to (bytes == full) is flagged.
BudgetCheck check_budget(const KvMethod& m, const KvInput& in, const CompressedCache& c);

/// check_budget that throws BudgetMismatch on failure.
void require_budget(const KvMethod& m, const KvInput& in, const CompressedCache& c);

/// Bytes of `tokens` fp tokens (K and V) of one head.
inline uint64_t token_bytes(uint64_t tokens, int32_t head_dim, int32_t elem_bytes) {
  return tokens * 2ull * static_cast<uint64_t>(head_dim) * static_cast<uint64_t>(elem_bytes);
}

}  // namespace attnbench::kv

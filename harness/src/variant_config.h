// String factory for attention configurations (faiss-style): "flash:causal,window=128:0"
// parses into a VariantConfig and prints back in one canonical form, used in CLI
// filters, the database and reports.
#pragma once

#include <string>
#include <string_view>

namespace attnbench {

/// A parsed attention configuration: which variant and its mask/logit options.
struct VariantConfig {
  std::string variant;     // registry name, e.g. "flash"
  bool causal = false;
  int window_left = -1;    // -1 = unlimited
  int window_right = -1;
  float softcap = 0.0f;    // 0 = off

  /// Canonical string: variant, then options in a fixed order ("flash:causal,window=64:0").
  std::string canonical() const;
};

/// Parses "variant[:opt,opt=value,...]". Throws std::invalid_argument naming the bad
/// part on unknown variants or options.
VariantConfig parse_variant_config(std::string_view text);

}  // namespace attnbench

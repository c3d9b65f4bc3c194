// String factory for attention configurations (faiss-style): "flash:causal,window=128:0"
// parses into a VariantConfig and prints back in one canonical form, used in CLI
// filters, the database and reports.
#pragma once

#include <map>
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
  /// Options the variant declares itself (VariantInfo::options), sorted by name.
  std::map<std::string, std::string> params;

  /// Canonical string: variant, then options in a fixed order ("flash:causal,window=64:0").
  std::string canonical() const;
  /// What a backend is asked to run: the variant name plus its own options
  /// ("block_topk:block=64,k=8"); mask and logit options travel in ab_attention_args.
  std::string kernel_name() const;
};

/// Parses "variant[:opt,opt=value,...]". Throws std::invalid_argument naming the bad
/// part on unknown variants or options.
VariantConfig parse_variant_config(std::string_view text);

}  // namespace attnbench

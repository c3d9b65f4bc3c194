// A KV method from a method plugin (ab_kv_method, kv_method_abi.h) behind the harness's
// KvPolicy interface, so plugged-in methods are planned, checked and measured exactly like
// built-in ones. The adapter owns no plugin state: the table must outlive it (method
// plugins stay loaded for the life of the process, method_plugin_loader.h).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "kv_policy.h"

namespace attnbench::kv {

/// KvPolicy over one plugin method table at one configuration.
class PluginPolicy final : public KvPolicy {
 public:
  /// Canonicalises `config` through the plugin; throws std::invalid_argument with the
  /// plugin's reason for an unknown or out-of-range option, or when the plugin answers a
  /// canonical form that does not name this method.
  PluginPolicy(const ab_kv_method& method, std::string_view config);

  std::string name() const override { return method_.name; }
  std::string config() const override { return config_; }
  bool needs_queries() const override { return method_.needs_queries != 0; }
  /// The plugin's requested_bytes; throws std::invalid_argument (bad config or layer) or
  /// std::runtime_error (any other failure) with the plugin's message.
  uint64_t requested_bytes(const ab_kv_layer& layer, int32_t elem_bytes) const override;
  /// The plugin's compress; AB_UNSUPPORTED becomes KvUnsupported, AB_INVALID_ARGUMENT
  /// std::invalid_argument, anything else std::runtime_error, each with the plugin's message.
  /// A plan with an impossible metric count is refused before the harness reads it.
  void compress(const ab_kv_env& env, const ab_kv_layer& layer, int32_t elem_bytes, ab_kv_plan& plan) const override;

 private:
  const ab_kv_method& method_;
  std::string config_;
};

/// Factory for register_kv_method: a PluginPolicy of `method` per config string.
KvPolicyFactory plugin_policy_factory(const ab_kv_method& method);

}  // namespace attnbench::kv

#include "plugin_policy.h"

#include <fmt/format.h>

#include <cstring>
#include <stdexcept>
#include <vector>

namespace attnbench::kv {
namespace {

/// Room for a plugin's message; the plugin writes at most err_cap bytes.
constexpr size_t kErrCap = 512;
/// Room for a canonical config (every option of a method fits many times over).
constexpr size_t kConfigCap = 1024;

/// The plugin's message (NUL-terminated whatever it wrote), or the status when it wrote none.
std::string message_of(const char* err, ab_status s) {
  std::string msg(err, strnlen(err, kErrCap));
  if (msg.empty()) msg = fmt::format("failed with status {}", static_cast<int>(s));
  return msg.substr(0, msg.find('\n'));
}

/// Throws the exception that matches a failed call's status.
[[noreturn]] void throw_status(const char* method, const char* what, ab_status s, const char* err) {
  const std::string msg = fmt::format("kv method '{}' {}: {}", method, what, message_of(err, s));
  if (s == AB_UNSUPPORTED) throw KvUnsupported(msg);
  if (s == AB_INVALID_ARGUMENT) throw std::invalid_argument(msg);
  throw std::runtime_error(msg);
}

}  // namespace

PluginPolicy::PluginPolicy(const ab_kv_method& method, std::string_view config) : method_(method) {
  const std::string in(config);
  std::vector<char> out(kConfigCap, '\0');
  char err[kErrCap] = {};
  const ab_status s = method_.canonical(in.c_str(), out.data(), out.size(), err, sizeof err);
  if (s != AB_OK) throw_status(method_.name, "config", s == AB_UNSUPPORTED ? AB_INVALID_ARGUMENT : s, err);
  out.back() = '\0';
  config_ = out.data();
  // The canonical string is a database key: it must name the method, then its options.
  const std::string name = method_.name;
  if (config_.compare(0, name.size(), name) != 0 || (config_.size() > name.size() && config_[name.size()] != ':'))
    throw std::invalid_argument(
        fmt::format("kv method '{}' answered canonical config '{}', which does not start with '{}:'", name, config_, name));
}

uint64_t PluginPolicy::requested_bytes(const ab_kv_layer& layer, int32_t elem_bytes) const {
  uint64_t bytes = 0;
  char err[kErrCap] = {};
  const ab_status s = method_.requested_bytes(config_.c_str(), &layer, elem_bytes, &bytes, err, sizeof err);
  if (s != AB_OK) throw_status(method_.name, "requested_bytes", s, err);
  return bytes;
}

void PluginPolicy::compress(const ab_kv_env& env, const ab_kv_layer& layer, int32_t elem_bytes, ab_kv_plan& plan) const {
  char err[kErrCap] = {};
  const ab_status s = method_.compress(&env, config_.c_str(), &layer, elem_bytes, &plan, err, sizeof err);
  if (s != AB_OK) throw_status(method_.name, "compress", s, err);
  // The executor checks kept slots and bytes itself; the metric table it indexes by
  // n_metrics, so that count is checked here, and names are cut to their buffer.
  if (plan.n_metrics < 0 || plan.n_metrics > AB_KV_MAX_METRICS)
    throw std::runtime_error(fmt::format("kv method '{}' compress: plan has {} metrics, at most {} fit", method_.name,
                                         plan.n_metrics, AB_KV_MAX_METRICS));
  for (int32_t i = 0; i < plan.n_metrics; ++i) plan.metric_name[i][sizeof plan.metric_name[i] - 1] = '\0';
}

KvPolicyFactory plugin_policy_factory(const ab_kv_method& method) {
  const ab_kv_method* m = &method;
  return [m](std::string_view config) -> std::unique_ptr<KvPolicy> { return std::make_unique<PluginPolicy>(*m, config); };
}

}  // namespace attnbench::kv

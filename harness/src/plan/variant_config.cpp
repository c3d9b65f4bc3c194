#include "variant_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <vector>

#include "variant_registry.h"

namespace attnbench {
namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t end = s.find(sep, start);
    parts.push_back(s.substr(start, end == std::string_view::npos ? s.size() - start : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return parts;
}

int parse_int(std::string_view v, std::string_view what) {
  int out = 0;
  const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || ptr != v.data() + v.size() || out < -1)
    throw std::invalid_argument(fmt::format("{}: '{}' is not a valid integer", what, v));
  return out;
}

}  // namespace

std::string VariantConfig::canonical() const {
  std::vector<std::string> opts;
  if (causal) opts.emplace_back("causal");
  if (softcap > 0) opts.push_back(fmt::format("softcap={:g}", softcap));
  if (window_left >= 0 || window_right >= 0) opts.push_back(fmt::format("window={}:{}", window_left, window_right));
  for (const auto& [key, value] : params) opts.push_back(fmt::format("{}={}", key, value));
  if (opts.empty()) return variant;
  return fmt::format("{}:{}", variant, fmt::join(opts, ","));
}

std::string VariantConfig::kernel_name() const {
  if (params.empty()) return variant;
  std::vector<std::string> opts;
  for (const auto& [key, value] : params) opts.push_back(fmt::format("{}={}", key, value));
  return fmt::format("{}:{}", variant, fmt::join(opts, ","));
}

VariantConfig parse_variant_config(std::string_view text) {
  VariantConfig cfg;
  const size_t colon = text.find(':');
  cfg.variant = std::string(text.substr(0, colon));
  const VariantInfo* info = find_variant(cfg.variant);
  if (!info)
    throw std::invalid_argument(fmt::format("unknown variant '{}' (see 'attnbench list variants')", cfg.variant));
  if (colon == std::string_view::npos) return cfg;
  for (std::string_view opt : split(text.substr(colon + 1), ',')) {
    const size_t eq = opt.find('=');
    const std::string_view key = opt.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? std::string_view{} : opt.substr(eq + 1);
    if (key == "causal" && eq == std::string_view::npos) {
      cfg.causal = true;
    } else if (key == "window" && !value.empty()) {
      const auto lr = split(value, ':');
      cfg.window_left = parse_int(lr[0], "window left");
      cfg.window_right = lr.size() > 1 ? parse_int(lr[1], "window right") : 0;
      if (lr.size() > 2) throw std::invalid_argument(fmt::format("window '{}' must be LEFT or LEFT:RIGHT", value));
    } else if (key == "softcap" && !value.empty()) {
      try {
        cfg.softcap = std::stof(std::string(value));
      } catch (const std::exception&) {
        throw std::invalid_argument(fmt::format("softcap '{}' is not a number", value));
      }
      if (!(cfg.softcap > 0)) throw std::invalid_argument("softcap must be positive");
    } else if (!value.empty() && std::find(info->options.begin(), info->options.end(), key) != info->options.end()) {
      cfg.params[std::string(key)] = std::string(value);
    } else {
      std::string allowed = "causal, window=L[:R], softcap=X";
      for (const char* o : info->options) allowed += fmt::format(", {}=...", o);
      throw std::invalid_argument(fmt::format("unknown option '{}' in '{}' (options: {})", opt, text, allowed));
    }
  }
  return cfg;
}

}  // namespace attnbench

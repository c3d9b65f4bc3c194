#include "kv_config.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace attnbench::kv {

double KvParams::get(const std::string& key, double def) const {
  auto it = values.find(key);
  return it == values.end() ? def : it->second;
}

KvParams parse_kv_config(std::string_view s) {
  KvParams p;
  const auto colon = s.find(':');
  p.name = std::string(s.substr(0, colon));
  if (p.name.empty()) throw std::invalid_argument("kv: empty method name in '" + std::string(s) + "'");
  if (colon == std::string_view::npos) return p;
  std::string_view rest = s.substr(colon + 1);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    const auto eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) throw std::invalid_argument("kv: expected key=value, got '" + std::string(item) + "'");
    const std::string val(item.substr(eq + 1));
    char* end = nullptr;
    const double x = std::strtod(val.c_str(), &end);
    if (val.empty() || *end) throw std::invalid_argument("kv: not a number: '" + val + "'");
    p.values[std::string(item.substr(0, eq))] = x;
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return p;
}

std::string canonical_config(const std::string& name, std::initializer_list<std::pair<const char*, double>> kv) {
  std::string s = name;
  char sep = ':';
  for (const auto& [k, v] : kv) {
    char buf[64];
    if (v == std::floor(v) && std::fabs(v) < 1e15) std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    else std::snprintf(buf, sizeof buf, "%g", v);
    s += sep;
    s += k;
    s += '=';
    s += buf;
    sep = ',';
  }
  return s;
}

int32_t budget_tokens(const KvParams& p, int32_t len_k) {
  const int64_t b = p.geti("budget", 256);
  if (b < 1) throw std::invalid_argument("kv: budget must be >= 1 token per head");
  return static_cast<int32_t>(std::min<int64_t>(b, len_k));
}

}  // namespace attnbench::kv

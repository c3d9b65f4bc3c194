#include "compare_args.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace attnbench::compare {

double parse_fraction(const std::string& text, const std::string& option) {
  std::string body = text;
  const bool percent = !body.empty() && body.back() == '%';
  if (percent) body.pop_back();
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(body, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (body.empty() || used != body.size() || !std::isfinite(v) || v < 0)
    throw std::invalid_argument(fmt::format("invalid {} '{}' (expected e.g. 5% or 0.05)", option, text));
  return percent ? v / 100 : v;
}

void parse_error_tolerance(const std::string& text, CompareOptions& o) {
  const size_t comma = text.find(',');
  o.error_abs = parse_fraction(text.substr(0, comma), "--error-tolerance");
  if (comma != std::string::npos) o.error_rel = parse_fraction(text.substr(comma + 1), "--error-tolerance");
}

}  // namespace attnbench::compare

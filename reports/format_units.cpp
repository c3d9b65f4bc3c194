#include "format_units.h"

#include <array>
#include <cmath>

#include <fmt/format.h>

namespace attnbench::reports {

namespace {

/// 3 significant digits with no trailing exponent: 1.25, 12.5, 125.
std::string three_digits(double v) {
  double a = std::fabs(v);
  if (a >= 100) return fmt::format("{:.0f}", v);
  if (a >= 10) return fmt::format("{:.1f}", v);
  return fmt::format("{:.2f}", v);
}

bool unusable(double v) { return std::isnan(v) || std::isinf(v); }

std::string non_finite(double v) {
  if (std::isnan(v)) return "NaN";
  return v > 0 ? "inf" : "-inf";
}

}  // namespace

std::string format_seconds(double s, bool compact) {
  if (unusable(s)) return non_finite(s);
  if (s == 0) return "0 s";
  struct Scale { double factor; const char* suffix; };
  static constexpr std::array<Scale, 4> kScales{
      {{1, "s"}, {1e-3, "ms"}, {1e-6, "\xC2\xB5s"}, {1e-9, "ns"}}};
  double a = std::fabs(s);
  for (const Scale& sc : kScales)
    // Round first so 999.9 us reads "1.00 ms", not "1000 us".
    if (a >= sc.factor * 0.9995) {
      std::string digits = three_digits(s / sc.factor);
      if (compact && digits.find('.') != std::string::npos) {
        digits.erase(digits.find_last_not_of('0') + 1);
        if (digits.back() == '.') digits.pop_back();
      }
      return digits + " " + sc.suffix;
    }
  return three_digits(s / 1e-9) + " ns";
}

std::string format_si(double v, std::string_view unit) {
  if (unusable(v)) return non_finite(v);
  struct Scale { double factor; const char* prefix; };
  static constexpr std::array<Scale, 7> kScales{{{1e18, "E"}, {1e15, "P"}, {1e12, "T"},
                                                  {1e9, "G"}, {1e6, "M"}, {1e3, "k"},
                                                  {1, ""}}};
  double a = std::fabs(v);
  for (const Scale& sc : kScales)
    if (a >= sc.factor * 0.9995)
      return fmt::format("{} {}{}", three_digits(v / sc.factor), sc.prefix, unit);
  if (a == 0) return fmt::format("0 {}", unit);
  return fmt::format("{:.3g} {}", v, unit);
}

std::string format_percent(double ratio) {
  if (unusable(ratio)) return non_finite(ratio);
  double p = ratio * 100;
  if (std::fabs(p) >= 10 || p == 0) return fmt::format("{:.1f}%", p);
  return fmt::format("{:.2g}%", p);
}

std::string format_scientific(double v) {
  if (unusable(v)) return non_finite(v);
  if (v == 0) return "0";
  return fmt::format("{:.2e}", v);
}

std::string format_length(double length) {
  if (unusable(length)) return non_finite(length);
  auto n = static_cast<long long>(std::llround(length));
  if (std::fabs(length - static_cast<double>(n)) > 1e-9 * std::fabs(length))
    return fmt::format("{:g}", length);
  // Context lengths are usually powers of two: 4K means 4096 in this field.
  if (n >= (1LL << 20) && n % (1LL << 20) == 0) return fmt::format("{}M", n >> 20);
  if (n >= 1024 && n % 1024 == 0) return fmt::format("{}K", n >> 10);
  if (n >= 10000 && n % 1000 == 0) return fmt::format("{}k", n / 1000);
  return fmt::format("{}", n);
}

std::string format_metric(double v, std::string_view unit) {
  if (unit == "s") return format_seconds(v);
  if (unit == "B" || unit == "B/s" || unit == "FLOP/s" || unit == "FLOP")
    return format_si(v, unit);
  if (unusable(v)) return non_finite(v);
  if (unit.empty() || unit == "ratio") return fmt::format("{:.4g}", v);
  return fmt::format("{:.4g} {}", v, unit);
}

}  // namespace attnbench::reports

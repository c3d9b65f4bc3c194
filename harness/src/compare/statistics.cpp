#include "statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace attnbench {
namespace {

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

Summary summarize(std::span<const double> xs) {
  Summary s;
  s.n = xs.size();
  if (xs.empty()) return s;
  std::vector<double> v(xs.begin(), xs.end());
  s.median = median_of(v);
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  for (double& x : v) x = std::abs(x - s.median);
  s.mad = median_of(std::move(v));
  return s;
}

double loglog_slope(std::span<const double> x, std::span<const double> y) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  size_t n = 0;
  for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) {
    if (x[i] <= 0 || y[i] <= 0) continue;
    const double lx = std::log(x[i]), ly = std::log(y[i]);
    sx += lx; sy += ly; sxx += lx * lx; sxy += lx * ly; ++n;
  }
  const double denom = n * sxx - sx * sx;
  if (n < 2 || std::abs(denom) < 1e-12) return std::numeric_limits<double>::quiet_NaN();
  return (n * sxy - sx * sy) / denom;
}

}  // namespace attnbench

#include "scaling_fit.h"

#include <cmath>

namespace attnbench::reports {

std::optional<double> loglog_slope(const std::vector<ChartPoint>& points) {
  // Centred sums: numerically stable even for lengths near 1e6 and times near 1e-9.
  std::vector<std::pair<double, double>> logs;
  for (const ChartPoint& p : points)
    if (std::isfinite(p.x) && std::isfinite(p.y) && p.x > 0 && p.y > 0)
      logs.emplace_back(std::log(p.x), std::log(p.y));
  if (logs.size() < 2) return std::nullopt;
  double mx = 0, my = 0;
  for (auto [lx, ly] : logs) mx += lx, my += ly;
  mx /= static_cast<double>(logs.size());
  my /= static_cast<double>(logs.size());
  double sxx = 0, sxy = 0;
  for (auto [lx, ly] : logs) sxx += (lx - mx) * (lx - mx), sxy += (lx - mx) * (ly - my);
  if (sxx < 1e-12) return std::nullopt;  // all at one length: no slope to fit
  return sxy / sxx;
}

}  // namespace attnbench::reports

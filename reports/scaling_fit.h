// The scaling exponent of a time-vs-length line. Reports do not link the engine
// (harness/src/compare/statistics.h has the same fit), so the few lines live here too.
#pragma once

#include <optional>
#include <vector>

#include "svg_chart.h"

namespace attnbench::reports {

/// Least-squares slope of log(y) against log(x) over the points with x, y > 0:
/// k in y ~ c * x^k. Empty when fewer than two distinct x remain.
std::optional<double> loglog_slope(const std::vector<ChartPoint>& points);

}  // namespace attnbench::reports

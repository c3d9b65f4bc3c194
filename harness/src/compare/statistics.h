// Robust summaries of repeated timings.
#pragma once

#include <span>
#include <vector>

namespace attnbench {

/// Median, minimum and median absolute deviation of a sample.
struct Summary {
  double median = 0;
  double min = 0;
  double max = 0;
  double mad = 0;
  size_t n = 0;
};

/// Summarises `xs` (empty input gives zeros).
Summary summarize(std::span<const double> xs);

/// Least-squares slope of log(y) against log(x): the scaling exponent of y ~ x^k.
/// Needs at least two distinct positive x; returns NaN otherwise.
double loglog_slope(std::span<const double> x, std::span<const double> y);

}  // namespace attnbench

// Distribution-free two-sample statistics for timing comparisons: the two-sided
// Mann-Whitney U test (Wilcoxon rank-sum) and the Hodges-Lehmann shift estimate
// with its rank-based confidence interval. Timings are few (3-10 repetitions)
// and skewed, so nothing here assumes normality.
#pragma once

#include <span>
#include <vector>

namespace attnbench::compare {

/// Result of a two-sided Mann-Whitney U test of x against y.
struct MannWhitney {
  double u = 0;        ///< U of x: #(x_i > y_j) + 0.5 * #(x_i == y_j) (R's W)
  double p_value = 1;  ///< two-sided
  double min_p = 1;    ///< smallest two-sided p these sample sizes (and ties) can give
  bool exact = false;  ///< exact permutation distribution (else normal approximation)
};

/// Largest sample size (each side) for which the exact permutation distribution is used.
inline constexpr size_t kExactLimit = 10;

/**
 * Two-sided Mann-Whitney U test. Uses the exact conditional permutation distribution
 * of the rank sum (midranks, so ties are handled exactly) when both samples have at
 * most kExactLimit values; otherwise the normal approximation with tie correction and
 * continuity correction (as R's wilcox.test with correct = TRUE). An empty side gives p = 1.
 */
MannWhitney mann_whitney_u(std::span<const double> x, std::span<const double> y);

/// Hodges-Lehmann estimate of the shift y - x with a distribution-free interval.
struct ShiftEstimate {
  double estimate = 0;           ///< median of all pairwise differences y_j - x_i
  double lo = 0, hi = 0;         ///< interval bounds (order statistics of the differences)
  double confidence = 0;         ///< coverage actually achieved (can exceed or fall short of
                                 ///< the request: rank intervals have discrete levels)
};

/**
 * Hodges-Lehmann shift of y relative to x with the interval [d_(k), d_(nm+1-k)] of the
 * sorted pairwise differences, k chosen from the null distribution of U (exact up to
 * kExactLimit per side, normal beyond) for coverage at least `confidence`. When the
 * samples are too small to reach it, the widest interval [min d, max d] is returned
 * with its smaller achieved coverage. Both samples must be non-empty.
 */
ShiftEstimate hodges_lehmann(std::span<const double> x, std::span<const double> y, double confidence = 0.95);

/// Standard normal quantile (inverse CDF) for 0 < p < 1.
double normal_quantile(double p);

}  // namespace attnbench::compare

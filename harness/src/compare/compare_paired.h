// Paired timing statistics for interleaved A/B runs: repetition i of A and of B ran
// back to back, so machine drift hits both alike and the per-pair ratio B_i / A_i
// carries the difference. The Wilcoxon signed-rank test on log ratios (exact for small
// n) and the Hodges-Lehmann estimate over Walsh averages with its rank interval; no
// normality assumed.
#pragma once

#include <span>

#include "compare_verdict.h"

namespace attnbench::compare {

/// Two-sided Wilcoxon signed-rank test of paired differences d against 0.
struct SignedRank {
  double w_plus = 0;   ///< sum of the ranks of positive differences (midranks on ties)
  double p_value = 1;  ///< two-sided
  double min_p = 1;    ///< smallest p this n can give
  bool exact = false;  ///< exact null distribution (n <= kSignedRankExactLimit), else normal
};

inline constexpr size_t kSignedRankExactLimit = 30;

/// Signed-rank test; zero differences are dropped (Wilcoxon's convention).
SignedRank signed_rank_test(std::span<const double> d);

/// Paired comparison of B against A: ratio = Hodges-Lehmann estimate of B/A (the
/// exponent of the median Walsh average of log(B_i / A_i)) with its interval.
struct PairedComparison {
  size_t pairs = 0;
  double ratio = 1;
  double lo = 1, hi = 1;    ///< interval of the ratio
  double confidence = 0;    ///< coverage achieved by the interval
  SignedRank test;
  bool slower = false, faster = false;
  bool inconclusive = false;  ///< too few pairs to reach alpha
  std::string note;
};

/**
 * Slower iff the signed-rank test is significant (p <= alpha) and the estimated ratio
 * exceeds 1 + threshold; faster iff significant and below 1 / (1 + threshold). `a` and
 * `b` are seconds per call, pair i = (a[i], b[i]); both must have the same size >= 2.
 */
PairedComparison compare_paired(std::span<const double> a, std::span<const double> b, const CompareOptions& o);

/// True when more pairs could still change the verdict: the ratio's interval contains
/// a threshold (1 + threshold or 1 / (1 + threshold)), or the pairs cannot reach alpha.
/// An interval wholly inside the thresholds or wholly beyond one is settled.
bool verdict_open(const PairedComparison& c, const CompareOptions& o);

}  // namespace attnbench::compare

// Change points in a performance history: where a series of per-commit medians
// shifts level, so a slow drift or a step that no single run-vs-run compare
// flags still shows up. Pure functions; no I/O.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace attnbench::history {

/// Knobs of detect_change_points; the defaults are the documented method.
struct ChangePointOptions {
  double alpha = 0.01;            ///< accept a split when its Mann-Whitney p <= alpha
  bool bonferroni = false;        ///< true: compare p * (number of candidate splits) instead
  size_t min_segment = 3;         ///< both sides of a split hold at least this many points
  double min_shift = 0.05;        ///< and their medians differ by more than this (relative)
  int max_depth = 6;              ///< recursion cap (at most 2^depth - 1 change points)
};

/// One accepted split: the level changes between values[index - 1] and values[index].
struct ChangePoint {
  size_t index = 0;
  double p_value = 1;        ///< Mann-Whitney p of the split when it was accepted
  double before_median = 0;  ///< median of the final segment ending at index
  double after_median = 0;   ///< median of the final segment starting at index
  /// after_median / before_median.
  double ratio() const { return before_median > 0 ? after_median / before_median : 0; }
};

/**
 * Binary segmentation of `values` (times: finite and > 0; they are compared on a
 * log scale). In a segment, every split leaving >= min_segment points on both
 * sides is scored with the two-sided Mann-Whitney U test of left vs right (on
 * log values; ranks, so one outlier does not make a step); the split with the
 * smallest p wins (ties: the larger |log median shift|). It is accepted when p
 * <= alpha (or p * candidates <= alpha with bonferroni) and the medians of the
 * two sides differ by more than min_shift; then both sides are segmented again,
 * up to max_depth levels. This is the E-divisive-means scheme (Matteson & James
 * 2014, as used by MongoDB's signal processing, Otava and asv) simplified: a
 * rank test instead of the energy statistic with a permutation test, and a
 * fixed effect-size floor. Returns the change points ordered by index, with the
 * medians of the final segments on either side. Non-finite or non-positive
 * values throw std::invalid_argument. Fewer than 2 * min_segment values give none.
 */
std::vector<ChangePoint> detect_change_points(std::span<const double> values,
                                              const ChangePointOptions& options = {});

}  // namespace attnbench::history

// Run-vs-run statistics for the report: per matching case_key the ratio of
// median times (candidate / baseline) with a bootstrap confidence interval, a
// verdict, and the change in quality metrics.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "report_data.h"

namespace attnbench::reports {

/// A ratio of medians and its confidence interval.
struct RatioEstimate {
  double ratio = 1, lo = 1, hi = 1;
  bool has_interval = false;  // false: too few samples; lo = hi = ratio
};

/**
 * Ratio median(cand) / median(base) with a percentile bootstrap interval at
 * `confidence`: both sample sets are resampled with replacement `resamples`
 * times from a generator seeded with `seed`, so the same inputs always give the
 * same interval. Empty when either set has no positive finite value.
 */
std::optional<RatioEstimate> bootstrap_median_ratio(const std::vector<double>& base,
                                                    const std::vector<double>& cand,
                                                    int resamples = 2000, uint64_t seed = 20240901,
                                                    double confidence = 0.95);

/// untimed: neither run (or only one) recorded a time for the case, e.g. a
/// recall case that only measures quality.
enum class Verdict { faster, slower, same, untimed };

/// "faster" / "slower" / "same" / "untimed".
const char* verdict_name(Verdict v);

/**
 * The time verdict of one ratio estimate at relative `threshold`: "faster" when
 * the whole interval is below 1 and the ratio is at most 1 - threshold,
 * "slower" when the interval is above 1 and the ratio at least 1 + threshold,
 * else "same"; "untimed" when there is no estimate. The one rule behind both
 * compare_runs and the A/A noise check, so the two can never disagree.
 */
Verdict time_verdict(const std::optional<RatioEstimate>& time, double threshold);

/// One quality metric in both runs; `worse` when it moved the bad way beyond
/// tolerance (errors: > 10% relative and above 1e-12; accuracy-like: > 0.005).
struct QualityDelta {
  std::string metric;
  std::optional<double> base, cand;
  bool worse = false, better = false;
};

/// One case_key present in both runs.
struct CaseComparison {
  const CaseResult* base = nullptr;
  const CaseResult* cand = nullptr;
  std::optional<RatioEstimate> time;  // empty when either lacks a time
  Verdict verdict = Verdict::untimed;
  std::vector<QualityDelta> quality;  // only metrics present in either run
};

/// The whole comparison. Pointers refer into the RunData passed in, which must outlive it.
struct RunComparison {
  int64_t base_run = 0, cand_run = 0;
  std::string base_label, cand_label;  // RunInfo::label(): "run 3" or "campaign nightly (runs 3, 4)"
  double threshold = 0.05;
  std::vector<CaseComparison> cases;  // in the candidate's order
  std::vector<const CaseResult*> only_base, only_cand;
};

/**
 * Matches ok cases by case_key. A case is "faster" when the whole interval is
 * below 1 and the ratio is at most 1 - threshold, "slower" when the interval
 * is above 1 and the ratio at least 1 + threshold, else "same" (a change the
 * noise or the threshold cannot tell apart). Without an interval (fewer than
 * two samples on a side) the threshold alone decides.
 */
RunComparison compare_runs(const RunData& base, const RunData& cand, double threshold = 0.05);

}  // namespace attnbench::reports

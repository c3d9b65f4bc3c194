// Run-vs-run verdicts for CI: per case, time (Mann-Whitney U on the repetitions plus
// a relative threshold on the median ratio), quality (errors must not grow, recall
// must not drop) and status (ok -> failed is a regression). Pure functions of two
// loaded runs, so the same logic serves `compare`, `reproduce` and the A/A check.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "compare_cases.h"
#include "compare_mann_whitney.h"

namespace attnbench::compare {

/// Knobs of a comparison; the defaults are the documented CLI defaults.
struct CompareOptions {
  double alpha = 0.05;            ///< significance level of the two-sided U test
  double threshold = 0.05;        ///< slower only if median ratio > 1 + threshold
  double error_abs = 1e-6;        ///< errors may grow by error_abs + error_rel * base
  double error_rel = 0.10;
  double recall_tolerance = 0.0;  ///< recall_accuracy may drop by this much
  double confidence = 0.95;       ///< level of the ratio interval
};

/// Outcome of one case (or, for time alone, of one pair of sample sets).
enum class Verdict { pass, regression, improvement, not_comparable, only_base, only_cand };

/// "pass", "regression", "improvement", "not comparable", "only in base", "only in candidate".
const char* verdict_name(Verdict v);

/// Time comparison of two sample sets (seconds per call, one per repetition).
struct TimeComparison {
  size_t n_base = 0, n_cand = 0;
  double median_base = 0, median_cand = 0;
  double ratio = 1;                 ///< median(cand) / median(base)
  std::optional<ShiftEstimate> ratio_ci;  ///< Hodges-Lehmann ratio with interval (exp of log shift)
  MannWhitney test;
  bool slower = false, faster = false;
  bool inconclusive = false;        ///< these sizes cannot reach alpha: no time verdict possible
  std::string note;                 ///< one phrase saying why (for the details column)
};

/**
 * Compares timings: slower iff the U test is significant (p <= alpha) and the median
 * ratio exceeds 1 + threshold; faster iff significant and the ratio is below
 * 1 / (1 + threshold) (symmetric on a log scale). Sample sets need >= 2 values each.
 */
TimeComparison compare_times(std::span<const double> base, std::span<const double> cand, const CompareOptions& o);

/// One quality metric in both runs.
struct MetricChange {
  std::string name;
  std::optional<double> base, cand;
  bool worse = false, better = false;
  std::string note;
};

/// Quality metrics compared: errors must not grow, accuracies must not drop.
const std::vector<std::string>& error_metrics();
const std::vector<std::string>& accuracy_metrics();

/// Everything decided about one case_key.
struct CaseComparison {
  std::string case_key, suite, backend;
  Verdict verdict = Verdict::pass;
  std::string status_base, status_cand;
  std::vector<std::string> reasons;       ///< why this verdict (each a short phrase)
  std::optional<TimeComparison> time;     ///< when both ran ok with >= 2 samples
  std::vector<MetricChange> quality;
};

/// A whole comparison with counts by verdict.
struct Comparison {
  store::RunRecord base, cand;          ///< provenance (of the first run of a campaign)
  std::string base_name, cand_name;     ///< StoredRun::name of each side
  std::vector<int64_t> base_runs, cand_runs;  ///< StoredRun::run_ids of each side
  CompareOptions options;
  std::vector<CaseComparison> cases;  ///< base order, then cases only in the candidate
  int count(Verdict v) const;
  bool has_regression() const { return count(Verdict::regression) > 0; }
};

/**
 * Compares every case_key of two runs. Order of checks per case: presence (only in one
 * run), fingerprint (not comparable, naming the differing parts), status (a failure
 * status in the candidate that the base did not have is a regression; ok -> unsupported
 * or no_device is not comparable), then time and quality for cases ok in both.
 */
Comparison compare_runs(const StoredRun& base, const StoredRun& cand, const CompareOptions& o);

/// Result of an A/A self-check: how often compare flags a difference that cannot exist.
struct AaResult {
  int cases = 0;         ///< ok cases with >= 4 repetitions
  int testable = 0;      ///< of those, halves large enough for p to reach alpha
  int flagged_slower = 0, flagged_faster = 0;
  /// Flagged (either direction) over testable cases; 0 when nothing is testable.
  double false_alarm_rate() const { return testable ? double(flagged_slower + flagged_faster) / testable : 0.0; }
};

/**
 * Splits every ok case's repetitions into two interleaved halves (even and odd
 * repetitions, so warm-up drift affects both alike) and runs compare_times on them:
 * any verdict is a false alarm by construction.
 */
AaResult aa_false_alarm(const StoredRun& run, const CompareOptions& o);

}  // namespace attnbench::compare

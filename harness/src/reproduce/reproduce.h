// `reproduce`: re-run a stored run from its stored selection and seed into the same
// database, then check that quality metrics agree bit for bit and noisy measurements
// (times, memory peaks, throughputs) within noise; metric_rule() says which is which.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "compare_verdict.h"
#include "plugin_loader.h"

namespace attnbench {

/// What to reproduce and how strictly to judge the times.
struct ReproduceOptions {
  std::string db_path = "results.db";
  int64_t run_id = 0;
  std::string suites_dir;  ///< empty: the default suites directory
  bool measure_peaks = true;
  std::string command_line;
  compare::CompareOptions compare;
  std::function<void(const std::string&)> progress;
};

/// Outcome: the new run, the comparison, and every disagreement as one line.
struct ReproduceResult {
  int64_t original_run = 0, new_run = 0;
  compare::Comparison comparison;
  std::vector<std::string> mismatches;  ///< quality bits, statuses, times, missing cases
  std::vector<std::string> notes;       ///< provenance that differs (informational)
  int quality_checked = 0;              ///< metric values compared bit for bit
  int quality_identical = 0;            ///< of those, bit-identical
  int noisy_checked = 0;                ///< noisy values compared within a tolerance
  int noisy_within = 0;                 ///< of those, within it
  bool agrees() const { return mismatches.empty(); }
};

/// How reproduce compares one metric of a case between the stored run and the rerun.
enum class MetricCheck {
  exact,         ///< a quality value (error, accuracy, mass kept, counts): bit for bit
  tolerance,     ///< a noisy measurement with a documented tolerance: |a - b| <= abs + rel * max(|a|, |b|)
  time_samples,  ///< a summary of the timed repetitions: judged by the time test on the samples
  skipped,       ///< one noisy reading no tolerance can tell from a change: not compared, noted
};

/// The rule for one metric, with the reason it is not exact (for notes and messages).
struct MetricRule {
  MetricCheck check = MetricCheck::exact;
  double abs = 0, rel = 0;  ///< tolerance, for MetricCheck::tolerance
  const char* why = "";
};

/**
 * The comparison rule for a metric name. The noisy measurements are one explicit list
 * (reproduce.cpp, kNoisyMetrics); every other metric is quality and compared exactly,
 * so a new noisy metric shows up as a reproduction failure until it is listed.
 */
MetricRule metric_rule(const std::string& name);

/// True for a noisy measurement (any rule but exact): times, rates, memory peaks.
bool is_timing_metric(const std::string& name);

/**
 * Loads run `run_id`, re-plans it with RunSelection::from_json(runs.selection) (same
 * seed, suites, filters, shard and backend options), executes it as a new run in the
 * same database and compares the two. Throws std::invalid_argument for an unknown run
 * or an unreadable selection, store::StoreError for database problems.
 */
ReproduceResult reproduce_run(const ReproduceOptions& opts, const PluginScan& plugins);

/**
 * The agreement check alone, on two loaded runs: statuses equal, every metric per
 * metric_rule (quality bit-identical, NaN matching NaN; noisy values within their
 * tolerance), times neither slower nor faster per compare_times, the same case keys
 * with the same fingerprints. Metrics not compared get one note per name.
 */
ReproduceResult check_reproduction(const compare::StoredRun& original, const compare::StoredRun& again,
                                   const compare::CompareOptions& o);

}  // namespace attnbench

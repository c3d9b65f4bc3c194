// `reproduce`: re-run a stored run from its stored selection and seed into the same
// database, then check that quality metrics agree bit for bit and times within noise.
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
  bool agrees() const { return mismatches.empty(); }
};

/// True for metrics that measure time or rates (compared within noise, not bitwise).
bool is_timing_metric(const std::string& name);

/**
 * Loads run `run_id`, re-plans it with RunSelection::from_json(runs.selection) (same
 * seed, suites, filters, shard and backend options), executes it as a new run in the
 * same database and compares the two. Throws std::invalid_argument for an unknown run
 * or an unreadable selection, store::StoreError for database problems.
 */
ReproduceResult reproduce_run(const ReproduceOptions& opts, const PluginScan& plugins);

/**
 * The agreement check alone, on two loaded runs: statuses equal, every non-timing
 * metric bit-identical (NaN matches NaN), times neither slower nor faster per
 * compare_times, the same case keys with the same fingerprints.
 */
ReproduceResult check_reproduction(const compare::StoredRun& original, const compare::StoredRun& again,
                                   const compare::CompareOptions& o);

}  // namespace attnbench

// A run: selection -> planned cases -> measured peaks -> one stored record per
// case, each in its own transaction. A run interrupted at any point stays
// `incomplete` with every finished case kept; --resume finishes it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "case_spec.h"
#include "plugin_loader.h"

namespace attnbench {

/// What to run; stored with the run (as JSON) so that --resume can plan it again.
struct RunSelection {
  std::vector<std::string> suites;          // names or paths
  std::vector<std::string> backends;        // empty: every loaded backend that has a device
  std::vector<std::string> variants;        // glob patterns on variant or canonical config
  std::string filter;                       // RE2 regex on the case key
  bool quick = false;
  uint64_t seed = 1;
  int shard_index = 1, shard_count = 1;     // 1-based i/N
  int repetitions = 0;                      // > 0 overrides the suite files
  bool cold = false;                        // --cold: flush the last-level cache before each timed call
  uint64_t cold_bytes = 0;                  // --cold-bytes: bytes written per flush; 0: twice the cache
  std::string backend_options;              // passed to every backend's create()
  std::vector<std::string> methods;         // recall cases: globs on KV method name or config
  std::vector<int> budgets;                 // recall cases: replace the suites' budget axis
  std::vector<double> compression_ratios;   // recall cases: budgets as fractions of the cache removed (kvpress)
  std::vector<std::string> traces;          // trace folders (--trace): every KV method and variant on each

  std::string to_json() const;
  static RunSelection from_json(const std::string& text);
};

/// Everything about a run that is not the selection.
struct RunOptions {
  std::string db_path = "results.db";
  std::string suites_dir;
  std::optional<int64_t> resume_run;        // finish this incomplete run
  bool measure_peaks = true;
  std::string command_line;
  std::function<void(const std::string&)> progress;  // one line per event
  std::string worker_exe;                   // executable with the `worker` subcommand (default: this one)
  double case_timeout = 0;                  // --case-timeout seconds; 0: each case's default
  bool retry_failed = false;                // --resume also re-runs crashed and timed-out cases
  int jobs = 0;                             // workers per backend; 0: one per device
  std::string campaign;                     // --campaign: shards on many machines share it; empty: its own
};

/// Counts by status once a run ends.
struct RunSummary {
  int64_t run_id = 0;
  int total = 0, ok = 0, failed = 0, unsupported = 0, no_device = 0, oom = 0, error = 0, crashed = 0, timeout = 0;
  int resumed_skipped = 0;
  bool has_failures() const { return failed > 0 || error > 0 || crashed > 0 || timeout > 0; }
};

/// Expands the selection into cases (backend set on each). Throws std::invalid_argument
/// for unknown suites, backends, variants or KV methods, malformed suite files, a case
/// planned twice, and a selection (or one of its globs, its filter or its shard) that
/// matches no case.
/// Every case (attention, recall variant, KV method) is planned on every selected
/// backend; a backend without KV primitives stores its KV cases `unsupported`. In recall
/// suites --method selects KV cases and --variant variant cases; naming only one of them
/// drops the other kind.
std::vector<CaseSpec> plan_cases(const RunSelection& sel, const std::string& suites_dir,
                                 const std::vector<std::string>& available_backends);

/// Executes a run into the database: cases run in worker processes (run_supervisor.h),
/// the results are stored here. Throws std::invalid_argument on bad input and
/// store::StoreError on database problems, before anything is written where possible.
RunSummary execute_run(RunSelection sel, const RunOptions& opts, const PluginScan& plugins);

}  // namespace attnbench

// Interleaved A/B runs (`attnbench ab`): two builds of one backend (two plugin folders,
// e.g. the base and the head of a pull request) in two workers, each case's repetitions
// run alternately A, B, A, B, so machine drift (frequency, a neighbour's load, thermal
// state) hits both sides alike. The verdict per case is the paired signed-rank test on
// the per-pair ratios plus the relative threshold (compare_paired.h). Both sides are
// stored as two runs, so `report --baseline` and `compare` read them as usual.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "compare_paired.h"
#include "runner.h"

namespace attnbench {

/// What an A/B run compares and where it stores both sides.
struct AbOptions {
  std::string dir_a, dir_b;       ///< plugin folders of the two builds
  std::string backend;            ///< backend name; empty: the only one both folders hold
  std::string options_a, options_b;  ///< create() options per side ("threads=2", test knobs)
  RunSelection selection;         ///< suites, variants, filter, quick, seed, repetitions
  std::string db_path = "results.db", suites_dir, command_line, worker_exe;
  std::string campaign;           ///< both runs' campaign; empty: "ab-<run A>"
  double case_timeout = 0;
  bool measure_peaks = true;
  compare::CompareOptions compare;
  std::function<void(const std::string&)> progress;
};

/// The verdict of one case.
struct AbCase {
  std::string case_key;
  std::string status_a, status_b;
  double median_a = 0, median_b = 0;
  std::optional<compare::PairedComparison> time;  ///< when both sides ran ok with >= 2 pairs
};

/// Both stored runs and every case's verdict.
struct AbResult {
  int64_t run_a = 0, run_b = 0;
  std::string campaign;
  std::vector<AbCase> cases;
  int slower() const;
  int faster() const;
  int failed() const;  ///< cases not ok on one side
};

/// Runs the selection on both sides, interleaved, and stores both runs. Throws
/// std::invalid_argument on bad input (before anything is stored).
AbResult run_ab(const AbOptions& opts);

/// The verdict table as text lines (one per case, then a summary line).
std::string format_ab(const AbResult& r, const compare::CompareOptions& o);

}  // namespace attnbench

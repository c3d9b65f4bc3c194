// Interleaved A/B runs (`attnbench ab`): two builds of one backend (two plugin folders,
// e.g. the base and the head of a pull request) in two workers, each case's repetitions
// run in pairs, A B, B A, A B, ..., so machine drift (frequency, a neighbour's load,
// thermal state) hits both sides alike, and by default each pair in fresh worker
// processes, so a process's own draw of memory layout and thread placement does not
// bias one side of every pair. A case whose interval still straddles a threshold after
// its first pairs gets more, up to a limit. The verdict per case is the paired
// signed-rank test on the per-pair ratios plus the relative threshold (compare_paired.h).
// Both sides are stored as two runs, so `report --baseline` and `compare` read them as usual.
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
  /// Pairs each worker process times before both sides get fresh ones (0: never). A
  /// process draws its memory layout, thread placement and code addresses once, and
  /// that draw can bias every repetition it times by a steady few per cent; fresh
  /// processes turn the bias into noise the paired test sees.
  int pairs_per_worker = 1;
  /// Pairs a case may take beyond its first ones (--repetitions, default 10) while its
  /// verdict is open (compare::verdict_open): a noisy case is measured until its
  /// interval clears the threshold or this many pairs ran; a clear case stops early.
  int max_pairs = 30;
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

// `attnbench report --history`: every case's time and quality over all runs of a
// database (a CI job's accumulated results) in commit order, with change points.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace attnbench::reports {

/// One point of the history: a run alone, or all runs of one campaign.
struct HistoryEntry {
  std::string label;       ///< the campaign, or "run-<id>" for a run alone
  std::string git_sha;     ///< of the earliest run of the entry
  std::string started_at;  ///< of the earliest run (the order of entries)
  int64_t first_run = 0;
  /// The first 7 characters of git_sha, else the label.
  std::string short_name() const { return git_sha.empty() ? label : git_sha.substr(0, 7); }
};

/// One stored value of a case at one entry.
struct HistoryValue {
  size_t entry = 0;  ///< index into HistoryData::entries
  int64_t run_id = 0;
  double time_median = 0;
  std::optional<double> rel_error, recall_accuracy;
};

/// A case key's values over the entries where it is ok with a positive time_median.
struct HistorySeries {
  std::string case_key, suite, phase;
  std::vector<HistoryValue> values;  ///< in entry order
};

struct HistoryData {
  std::vector<HistoryEntry> entries;  ///< by started_at of their first run, then id
  std::vector<HistorySeries> series;  ///< by suite, phase, case key
};

/// Loads the history of the database at `db_path` (read-only). A case stored by
/// several runs of one campaign counts as its newest run stored it. Throws
/// std::runtime_error when the file is missing or not an attnbench database.
HistoryData load_history(const std::string& db_path);

/// Change-point detection over one series of times: returns the indices where
/// a new level starts (harness/src/compare/change_points.h supplies it; the reports
/// library does not link the engine, so the caller passes it in).
using ChangeDetector = std::function<std::vector<size_t>(const std::vector<double>& times)>;

/// The page: per case a time chart (and a quality chart where present) with the
/// change points as vertical lines labelled "+18% at abc1234", and a table of all
/// change points. Self-contained; every stored string is escaped.
std::string render_history_page(const HistoryData& data, const ChangeDetector& detect,
                                const std::string& source_name);

/// load_history + render_history_page, written atomically to `out_path`.
void write_history_report(const std::string& db_path, const ChangeDetector& detect,
                          const std::string& out_path);

}  // namespace attnbench::reports

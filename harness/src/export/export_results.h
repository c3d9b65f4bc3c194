// `attnbench export`: one stored run written as JSON, CSV or Google Benchmark JSON, for
// tools outside attnbench (notebooks, spreadsheets, Google Benchmark's compare.py).
// Everything here reads; the database is opened read-only by the caller.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "results_store.h"

namespace attnbench::exporter {

/// One measured machine peak of the run.
struct Peak {
  std::string backend, device, name, unit;
  double value = 0;
};

/// A run with everything stored for it, cases in the order they were stored.
struct ExportRun {
  store::RunRecord run;
  std::vector<Peak> peaks;
  std::vector<store::CaseRecord> cases;  ///< a NULL metric value (SQLite's NaN) is NaN here
};

/// The formats export_run() writes.
inline const std::vector<std::string>& export_formats() {
  static const std::vector<std::string> f = {"json", "csv", "gbench"};
  return f;
}

/// Throws std::invalid_argument naming the known formats unless `format` is one of them.
void check_format(const std::string& format);

/**
 * Loads run `run_id` (the newest when empty) with its cases, samples, metrics and peaks.
 * Throws std::invalid_argument for a database without runs, an unknown id (naming the
 * ids it holds) and a run without cases: an export of nothing is a mistake, not a file.
 */
ExportRun load_export_run(store::ResultsStore& db, std::optional<int64_t> run_id);

/// Every run of `campaign` as one export: the first run's provenance, the cases and
/// peaks of all of them. Throws std::invalid_argument for an unknown campaign.
ExportRun load_export_campaign(store::ResultsStore& db, const std::string& campaign);

/// The run in `format` (see export_formats()); throws std::invalid_argument for another.
std::string export_run(const ExportRun& r, const std::string& format);

/**
 * JSON: {"format": "attnbench-export", "format_version": 1, "run": provenance,
 * "machine_peaks": [...], "cases": [identity, status, message, flops, bytes, samples,
 * metrics {name: {value, unit}}]}. A number that is not finite is written as null with
 * a sibling "<key>_nonfinite": "nan" | "inf" | "-inf" (JSON has no such numbers, and a
 * bare null would not say whether a value was missing or NaN). flops/bytes are null
 * without a sibling when the case has no model.
 */
std::string to_json(const ExportRun& r);

/// CSV (RFC 4180, CRLF): one row per case, columns csv_columns(); empty where a case lacks a value.
std::string to_csv(const ExportRun& r);

/// The CSV header: identity columns, status, message, repetitions, flops, bytes, then common metrics.
const std::vector<std::string>& csv_columns();

/**
 * Google Benchmark JSON (context, benchmarks): one "iteration" entry per case and stored
 * repetition, named by the case key, times in ns, so that Google Benchmark's
 * tools/compare.py compares two exports. Cases without samples are listed in
 * context.attnbench_cases_without_samples instead (compare.py needs times).
 */
std::string to_gbench(const ExportRun& r);

}  // namespace attnbench::exporter

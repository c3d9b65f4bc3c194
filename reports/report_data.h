// A run as the reports see it: plain structs loaded from the SQLite store.
// Nothing here knows about HTML; the Markdown/JUnit renderers reuse it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace attnbench::reports {

/// One row of `runs` (provenance). NULL text columns load as "".
struct RunInfo {
  int64_t id = 0;
  std::string started_at, finished_at, status;
  std::string git_sha, build_type, compiler, compile_flags;
  std::string library_versions;  // JSON object name -> version, as stored
  std::string host, os, cpu, gpu, driver;
  std::string command_line;
  int64_t seed = 0;
  bool quick = false;
  std::string selection;  // JSON, as stored
};

/// One row of `metrics`; value is empty where the store holds NULL (e.g. NaN).
struct Metric {
  std::string name;
  std::optional<double> value;
  std::string unit;
};

/// One row of `samples`: the per-call time of one repetition.
struct Sample {
  int64_t repetition = 0;
  int64_t iterations = 0;
  double seconds = 0;
};

/// One row of `cases` with its metrics and samples attached.
struct CaseResult {
  int64_t id = 0;
  std::string case_key, suite, suite_file_hash, phase, backend, device, variant, config,
      dtype, shape, status, message;
  std::string group;   // suite group ("" before schema version 2)
  std::string target;  // reproduction target JSON; empty for ordinary cases
  std::optional<int64_t> batch, heads_q, heads_kv, len_q, len_k, head_dim, page_size;
  std::optional<double> flops, bytes;
  std::vector<Metric> metrics;  // ordered by name
  std::vector<Sample> samples;  // ordered by repetition

  /// The metric called `name`, or nullptr.
  const Metric* metric(std::string_view name) const;
  /// The value of metric `name`, empty when absent or NULL.
  std::optional<double> metric_value(std::string_view name) const;
};

/// One row of `machine_peaks`.
struct MachinePeak {
  std::string backend, device, name;
  double value = 0;
  std::string unit;
};

/// Everything a report shows about one run.
struct RunData {
  RunInfo run;
  std::vector<CaseResult> cases;  // in recording order (case id)
  std::vector<MachinePeak> peaks;
};

/// Loads run `run_id` (the newest run by start time when empty) from the store at
/// `db_path`, opened read-only in one read transaction so a run being written
/// concurrently is seen consistently. Throws std::runtime_error with a one-line
/// message when the file is missing, unreadable or not an attnbench database, or
/// when the run does not exist.
RunData load_run(const std::string& db_path, std::optional<int64_t> run_id);

}  // namespace attnbench::reports

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
  // Set when several runs are read as one result (load_runs): the campaign's name and its
  // runs in id order; the columns above are then those of the first run.
  std::string campaign;
  std::vector<int64_t> campaign_runs;

  /// "run 3", or for a campaign "campaign nightly (runs 3, 4)".
  std::string label() const;
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
  std::vector<RunInfo> parts;     // a campaign's runs, in id order; empty for a single run
};

/// Loads run `run_id` (the newest run by start time when empty) from the store at
/// `db_path`, opened read-only in one read transaction so a run being written
/// concurrently is seen consistently. Throws std::runtime_error with a one-line
/// message when the file is missing, unreadable or not an attnbench database, or
/// when the run does not exist.
RunData load_run(const std::string& db_path, std::optional<int64_t> run_id);

/**
 * Loads the runs `run_ids` (e.g. the shards of a campaign, or both sides of an `ab`)
 * as one result named `campaign`, as `compare` reads a campaign: the first run's
 * provenance, status incomplete (or failed) while any run is, finished_at the latest,
 * the cases of every run in run order (a case key stored twice counts as the later run
 * stored it, e.g. a shard run again), the machine peaks of every run (the first run's
 * where two measured the same peak), and each run's provenance in `parts`. One read
 * transaction. Throws std::runtime_error as load_run does, also for an empty list.
 */
RunData load_runs(const std::string& db_path, const std::vector<int64_t>& run_ids, const std::string& campaign);

}  // namespace attnbench::reports

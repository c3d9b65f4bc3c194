// The results database: runs with provenance, cases, one sample per repetition,
// metrics and measured machine peaks. One transaction per case, so a run killed at
// any point leaves every finished case intact and the run marked `incomplete`.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sqlite_db.h"

namespace attnbench::store {

/// Schema version this build writes (PRAGMA user_version).
int schema_version();

/// Provenance of one run.
struct RunRecord {
  int64_t id = 0;
  std::string started_at, finished_at, status;
  std::string git_sha, build_type, compiler, compile_flags, library_versions;
  std::string host, os, cpu, gpu, driver;
  std::string command_line;
  int64_t seed = 0;
  bool quick = false;
  std::string selection;  // JSON
};

/// One named metric value.
struct Metric {
  std::string name;
  double value;
  std::string unit;
};

/// Everything stored for one case.
struct CaseRecord {
  std::string case_key, suite, suite_file_hash, phase, backend, device, variant, config, dtype, shape;
  std::string group;   // suite group the case came from
  std::string target;  // JSON of the reproduction target it measures; empty for none
  int batch = 0, heads_q = 0, heads_kv = 0, len_q = 0, len_k = 0, head_dim = 0, page_size = 0;
  std::string status = "ok";
  std::string message;
  std::optional<double> flops, bytes;
  struct Sample { int repetition; int64_t iterations; double seconds; };
  std::vector<Sample> samples;
  std::vector<Metric> metrics;
};

/// Read/write access to a results database.
class ResultsStore {
 public:
  /// Opens or creates `path`, migrating an older schema forward. Refuses (StoreError,
  /// file untouched) a non-attnbench database, a newer schema, and a file that fails
  /// PRAGMA quick_check (see quick_check_on_open). read_only opens never write to the
  /// file, and in a read-only directory create nothing beside it (see ReadOnlyMode).
  explicit ResultsStore(const std::string& path, bool read_only = false);
  /// A writer puts the file back in rollback-journal mode (WAL is for while it writes),
  /// so that read-only opens later (report, compare, list, export, a read-only directory)
  /// create no -wal/-shm files.
  ~ResultsStore();
  ResultsStore(ResultsStore&&) = default;
  ResultsStore& operator=(ResultsStore&&) = default;

  /// Inserts a run with status `incomplete`; returns its id.
  int64_t begin_run(const RunRecord& run);
  /// Sets status and finish time.
  void finish_run(int64_t run_id, const std::string& status);
  /// Stores one measured peak.
  void add_peak(int64_t run_id, const std::string& backend, const std::string& device, const std::string& name,
                double value, const std::string& unit);
  /// Stores a case with its samples and metrics in one transaction.
  void add_case(int64_t run_id, const CaseRecord& c);
  /// Keys of the cases already stored for a run (what --resume skips).
  std::set<std::string> case_keys(int64_t run_id);
  /// The run with this id, or the newest when id is empty.
  std::optional<RunRecord> load_run(std::optional<int64_t> id);
  /// Peaks stored for a run as (backend, name) -> value.
  std::optional<double> peak(int64_t run_id, const std::string& backend, const std::string& name);

  Connection& connection() { return *db_; }

 private:
  int check_header(const std::string& path);
  void verify_integrity(const std::string& path);
  void migrate();
  std::unique_ptr<Connection> db_;
  bool read_only_ = false;
};

}  // namespace attnbench::store

#include "db_merge.h"

#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <set>

#include "results_store.h"

namespace attnbench::store {
namespace {

// Columns copied verbatim (everything except the ids being remapped). A future schema
// migration that adds columns must add them here too; inputs of another schema version
// are refused rather than copied partially.
constexpr const char* kRunColumns =
    "started_at, finished_at, status, git_sha, build_type, compiler, compile_flags, library_versions, host, os,"
    " cpu, gpu, driver, command_line, seed, quick, selection, campaign";
constexpr int kRunColumnCount = 18;
constexpr const char* kCaseColumns =
    "case_key, suite, suite_file_hash, phase, backend, device, variant, config, dtype, batch, heads_q, heads_kv,"
    " len_q, len_k, head_dim, page_size, shape, status, message, flops, bytes, group_name, target";
constexpr int kCaseColumnCount = 23;

/// A raw prepared statement: rows are copied value by value (sqlite3_bind_value keeps
/// each value's storage class, NULLs included), which the typed Statement cannot do.
struct Raw {
  sqlite3_stmt* s = nullptr;
  Raw(sqlite3* db, const std::string& sql) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK)
      throw StoreError(fmt::format("{}: {}", sqlite3_db_filename(db, "main"), sqlite3_errmsg(db)));
  }
  ~Raw() { sqlite3_finalize(s); }
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;
  bool step() {
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    sqlite3* db = sqlite3_db_handle(s);
    throw StoreError(fmt::format("{}: {}", sqlite3_db_filename(db, "main"), sqlite3_errmsg(db)));
  }
  void run() { step(); sqlite3_reset(s); sqlite3_clear_bindings(s); }
  /// Binds columns [from, from + n) of `src` to parameters [at, at + n).
  void bind_from(const Raw& src, int from, int n, int at) {
    for (int i = 0; i < n; ++i) sqlite3_bind_value(s, at + i, sqlite3_column_value(src.s, from + i));
  }
  void bind(int i, int64_t v) { sqlite3_bind_int64(s, i, v); }
};

std::string placeholders(int n) {
  std::string p;
  for (int i = 0; i < n; ++i) p += i ? ", ?" : "?";
  return p;
}

/// Refuses (one line) any input the merge could not copy whole.
void validate_input(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw StoreError(fmt::format("input database '{}' does not exist", path));
  ResultsStore in(path, /*read_only=*/true);  // refuses non-SQLite, foreign and newer files
  Connection& c = in.connection();
  {
    Statement v(c.handle(), "PRAGMA user_version");
    if (v.step() && v.column_int(0) != schema_version())
      throw StoreError(fmt::format("input database '{}' has schema version {}, this build merges version {}; open it "
                                   "once with this build's `attnbench run --resume` or re-export it",
                                   path, v.column_int(0), schema_version()));
  }
  // The store checked files up to its read limit on open; a merge copies every page, so
  // larger inputs are checked here too.
  std::error_code size_ec;
  const uintmax_t bytes = std::filesystem::file_size(path, size_ec);
  if (size_ec || quick_check_on_open(bytes, /*read_only=*/true)) return;
  const QuickCheck q = run_quick_check(c.handle());
  if (!q.sound()) throw StoreError(fmt::format("input database '{}' is corrupt ({})", path, q.findings));
}

/// Copies one input's runs into the open output (inside the caller's transaction).
void merge_one(sqlite3* out, sqlite3* in, MergeSummary& sum) {
  Raw runs(in, fmt::format("SELECT id, {} FROM runs ORDER BY id", kRunColumns));
  Raw find_run(out,
               "SELECT id, status FROM runs WHERE started_at = ? AND coalesce(host, '') = coalesce(?, '')"
               " AND command_line = ? AND seed = ? AND selection = ? ORDER BY id");
  Raw insert_run(out, fmt::format("INSERT INTO runs ({}) VALUES ({})", kRunColumns, placeholders(kRunColumnCount)));
  Raw finish_run(out, "UPDATE runs SET status = ?, finished_at = ? WHERE id = ?");
  Raw cases(in, fmt::format("SELECT id, {} FROM cases WHERE run_id = ? ORDER BY id", kCaseColumns));
  Raw case_exists(out, "SELECT 1 FROM cases WHERE run_id = ? AND case_key = ?");
  Raw insert_case(out, fmt::format("INSERT INTO cases (run_id, {}) VALUES (?, {})", kCaseColumns,
                                   placeholders(kCaseColumnCount)));
  Raw samples(in, "SELECT repetition, iterations, seconds FROM samples WHERE case_id = ?");
  Raw insert_sample(out, "INSERT INTO samples (case_id, repetition, iterations, seconds) VALUES (?, ?, ?, ?)");
  Raw metrics(in, "SELECT name, value, unit FROM metrics WHERE case_id = ?");
  Raw insert_metric(out, "INSERT INTO metrics (case_id, name, value, unit) VALUES (?, ?, ?, ?)");
  Raw peaks(in, "SELECT backend, device, name, value, unit FROM machine_peaks WHERE run_id = ?");
  Raw insert_peak(out, "INSERT OR IGNORE INTO machine_peaks (run_id, backend, device, name, value, unit)"
                       " VALUES (?, ?, ?, ?, ?, ?)");

  std::set<int64_t> claimed;
  while (runs.step()) {
    // Column indexes in `runs`: 0 id, then kRunColumns from 1 (started_at=1, finished_at=2,
    // status=3, host=9, command_line=14, seed=15, selection=17).
    const int64_t src_run = sqlite3_column_int64(runs.s, 0);
    find_run.bind_from(runs, 1, 1, 1);
    find_run.bind_from(runs, 9, 1, 2);
    find_run.bind_from(runs, 14, 2, 3);
    find_run.bind_from(runs, 17, 1, 5);
    // Two runs of one input can share an identity (same command started within one second):
    // the k-th such run matches the k-th in the output, never one already claimed.
    int64_t dst_run = 0;
    std::string status;
    while (find_run.step()) {
      const int64_t id = sqlite3_column_int64(find_run.s, 0);
      if (claimed.count(id)) continue;
      dst_run = id;
      status = reinterpret_cast<const char*>(sqlite3_column_text(find_run.s, 1));
      break;
    }
    sqlite3_reset(find_run.s);
    if (dst_run) {
      const std::string src_status = reinterpret_cast<const char*>(sqlite3_column_text(runs.s, 3));
      // A shard finished later (--resume) completes the copy merged earlier.
      if (status == "incomplete" && src_status != "incomplete") {
        finish_run.bind_from(runs, 3, 1, 1);
        finish_run.bind_from(runs, 2, 1, 2);
        finish_run.bind(3, dst_run);
        finish_run.run();
      }
      ++sum.runs_present;
    } else {
      insert_run.bind_from(runs, 1, kRunColumnCount, 1);
      insert_run.run();
      dst_run = sqlite3_last_insert_rowid(out);
      ++sum.runs_copied;
    }
    claimed.insert(dst_run);

    sqlite3_reset(peaks.s);
    peaks.bind(1, src_run);
    while (peaks.step()) {
      insert_peak.bind(1, dst_run);
      insert_peak.bind_from(peaks, 0, 5, 2);
      insert_peak.run();
    }

    sqlite3_reset(cases.s);
    cases.bind(1, src_run);
    while (cases.step()) {
      const int64_t src_case = sqlite3_column_int64(cases.s, 0);
      case_exists.bind(1, dst_run);
      case_exists.bind_from(cases, 1, 1, 2);
      const bool exists = case_exists.step();
      sqlite3_reset(case_exists.s);
      if (exists) {
        ++sum.cases_present;
        continue;
      }
      insert_case.bind(1, dst_run);
      insert_case.bind_from(cases, 1, kCaseColumnCount, 2);
      insert_case.run();
      const int64_t dst_case = sqlite3_last_insert_rowid(out);
      ++sum.cases_copied;
      sqlite3_reset(samples.s);
      samples.bind(1, src_case);
      while (samples.step()) {
        insert_sample.bind(1, dst_case);
        insert_sample.bind_from(samples, 0, 3, 2);
        insert_sample.run();
      }
      sqlite3_reset(metrics.s);
      metrics.bind(1, src_case);
      while (metrics.step()) {
        insert_metric.bind(1, dst_case);
        insert_metric.bind_from(metrics, 0, 3, 2);
        insert_metric.run();
      }
    }
  }
}

}  // namespace

MergeSummary merge_databases(const std::string& out_path, const std::vector<std::string>& inputs) {
  if (inputs.empty()) throw std::invalid_argument("merge needs at least one input database");
  MergeSummary sum;
  std::vector<std::string> todo;
  std::error_code ec;
  for (const auto& in : inputs) {
    validate_input(in);
    if (std::filesystem::exists(out_path, ec) && std::filesystem::equivalent(in, out_path, ec)) {
      sum.notes.push_back(fmt::format("skipped '{}': it is the output database", in));
      continue;
    }
    todo.push_back(in);
  }
  ResultsStore out(out_path);  // creates or migrates; refuses a corrupt output, untouched
  Connection& oc = out.connection();
  with_transaction(oc, [&] {
    for (const auto& path : todo) {
      Connection in(path, /*read_only=*/true);
      merge_one(oc.handle(), in.handle(), sum);
    }
  });
  return sum;
}

}  // namespace attnbench::store

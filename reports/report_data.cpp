#include "report_data.h"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <unordered_map>

#include <fmt/format.h>

#include "sqlite_db.h"  // header-only read-only open and quick_check, shared with the store

namespace attnbench::reports {

const Metric* CaseResult::metric(std::string_view name) const {
  for (const Metric& m : metrics)
    if (m.name == name) return &m;
  return nullptr;
}

std::optional<double> CaseResult::metric_value(std::string_view name) const {
  const Metric* m = metric(name);
  return m ? m->value : std::nullopt;
}

std::string RunInfo::label() const {
  if (campaign.empty()) return fmt::format("run {}", id);
  const std::vector<int64_t> runs = campaign_runs.empty() ? std::vector<int64_t>{id} : campaign_runs;
  return fmt::format("campaign {} ({} {})", campaign, runs.size() == 1 ? "run" : "runs", fmt::join(runs, ", "));
}

namespace {

struct DbClose {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
struct StmtFinalize {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Db = std::unique_ptr<sqlite3, DbClose>;

/// A prepared statement over a read-only connection. SQL text is always a
/// literal; data goes in through bind() only.
class Query {
 public:
  Query(sqlite3* db, const std::string& path, const char* sql) : db_(db), path_(path) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) fail();
    stmt_.reset(raw);
  }
  void bind(int index, int64_t value) {
    if (sqlite3_bind_int64(stmt_.get(), index, value) != SQLITE_OK) fail();
  }
  void bind(int index, const char* value) {
    if (sqlite3_bind_text(stmt_.get(), index, value, -1, SQLITE_TRANSIENT) != SQLITE_OK) fail();
  }
  /// Advances to the next row; false when done.
  bool step() {
    int rc = sqlite3_step(stmt_.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail();
  }
  std::string text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_.get(), col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), col)))
             : std::string();
  }
  int64_t int64(int col) const { return sqlite3_column_int64(stmt_.get(), col); }
  double real(int col) const { return sqlite3_column_double(stmt_.get(), col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }
  std::optional<int64_t> opt_int64(int col) const {
    return is_null(col) ? std::nullopt : std::optional<int64_t>(int64(col));
  }
  std::optional<double> opt_real(int col) const {
    return is_null(col) ? std::nullopt : std::optional<double>(real(col));
  }

 private:
  [[noreturn]] void fail() const {
    throw std::runtime_error(
        fmt::format("cannot read database '{}': {}", path_, sqlite3_errmsg(db_)));
  }
  sqlite3* db_;
  const std::string& path_;
  std::unique_ptr<sqlite3_stmt, StmtFinalize> stmt_;
};

Db open_read_only(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw std::runtime_error(fmt::format("database '{}' not found", path));
  if (!std::filesystem::is_regular_file(path, ec))
    throw std::runtime_error(fmt::format("database '{}' is not a regular file", path));
  sqlite3* raw = nullptr;
  // As the store opens it: no -wal/-shm files are created in a read-only directory.
  int rc = store::open_read_only(path, &raw, store::read_only_mode_for(path));
  Db db(raw);
  if (rc != SQLITE_OK)
    throw std::runtime_error(fmt::format("cannot open database '{}': {}", path,
                                         raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  // A runner may be committing a case right now; wait for it rather than fail.
  sqlite3_busy_timeout(db.get(), 5000);
  return db;
}

/// The first query touches the file header, so a corrupt file fails here with
/// SQLite's own reason; a valid SQLite file without our tables is named as such.
void require_schema(sqlite3* db, const std::string& path) {
  for (const char* table : {"runs", "cases", "samples", "metrics", "machine_peaks"}) {
    Query q(db, path, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
    q.bind(1, table);
    if (!q.step())
      throw std::runtime_error(fmt::format(
          "'{}' is not an attnbench database (it has no '{}' table)", path, table));
  }
}

/// Refuses a damaged file as the store does (same check, same size limit), so a
/// report never renders whatever a corrupt page happens to decode to.
void require_sound(sqlite3* db, const std::string& path) {
  std::error_code ec;
  const uintmax_t bytes = std::filesystem::file_size(path, ec);
  if (!ec && !store::quick_check_on_open(bytes, /*read_only=*/true)) return;
  const store::QuickCheck q = store::run_quick_check(db);
  if (q.locked())
    throw std::runtime_error(fmt::format("database '{}' is locked by another process; try again when it finishes", path));
  if (!q.sound())
    throw std::runtime_error(fmt::format("database '{}' is corrupt (PRAGMA quick_check: {})", path, q.findings));
}

constexpr const char* kRunColumns =
    "id, started_at, finished_at, status, git_sha, build_type, compiler, compile_flags, "
    "library_versions, host, os, cpu, gpu, driver, command_line, seed, quick, selection";

RunInfo read_run_row(const Query& q) {
  RunInfo r;
  r.id = q.int64(0);
  r.started_at = q.text(1);
  r.finished_at = q.text(2);
  r.status = q.text(3);
  r.git_sha = q.text(4);
  r.build_type = q.text(5);
  r.compiler = q.text(6);
  r.compile_flags = q.text(7);
  r.library_versions = q.text(8);
  r.host = q.text(9);
  r.os = q.text(10);
  r.cpu = q.text(11);
  r.gpu = q.text(12);
  r.driver = q.text(13);
  r.command_line = q.text(14);
  r.seed = q.int64(15);
  r.quick = q.int64(16) != 0;
  r.selection = q.text(17);
  return r;
}

/// Up to a handful of run ids, for the "unknown run" message.
std::string known_run_ids(sqlite3* db, const std::string& path) {
  Query q(db, path, "SELECT id FROM runs ORDER BY id DESC LIMIT 10");
  std::vector<std::string> ids;
  while (q.step()) ids.push_back(std::to_string(q.int64(0)));
  if (ids.empty()) return "it holds no runs";
  return fmt::format("latest runs: {}", fmt::join(ids, ", "));
}

RunInfo read_run(sqlite3* db, const std::string& path, std::optional<int64_t> run_id) {
  if (run_id) {
    Query q(db, path, fmt::format("SELECT {} FROM runs WHERE id = ?", kRunColumns).c_str());
    q.bind(1, *run_id);
    if (!q.step())
      throw std::runtime_error(fmt::format("run {} not found in '{}' ({})", *run_id, path,
                                           known_run_ids(db, path)));
    return read_run_row(q);
  }
  // Newest by start time: after a merge, ids need not follow time order.
  Query q(db, path,
          fmt::format("SELECT {} FROM runs ORDER BY started_at DESC, id DESC LIMIT 1",
                      kRunColumns)
              .c_str());
  if (!q.step()) throw std::runtime_error(fmt::format("database '{}' holds no runs", path));
  return read_run_row(q);
}

/// Whether `cases` has the group_name/target columns (schema version 2 on).
bool has_target_columns(sqlite3* db, const std::string& path) {
  Query q(db, path, "SELECT 1 FROM pragma_table_info('cases') WHERE name = 'target'");
  return q.step();
}

std::vector<CaseResult> read_cases(sqlite3* db, const std::string& path, int64_t run_id) {
  std::vector<CaseResult> cases;
  std::unordered_map<int64_t, size_t> index;
  {
    // A report may read a file written before version 2; those cases have no group or target.
    const bool targets = has_target_columns(db, path);
    Query q(db, path,
            fmt::format("SELECT id, case_key, suite, suite_file_hash, phase, backend, device, variant, "
                        "config, dtype, batch, heads_q, heads_kv, len_q, len_k, head_dim, page_size, "
                        "shape, status, message, flops, bytes, {} FROM cases WHERE run_id = ? ORDER BY id",
                        targets ? "group_name, coalesce(target, '')" : "'', ''")
                .c_str());
    q.bind(1, run_id);
    while (q.step()) {
      CaseResult c;
      c.id = q.int64(0);
      c.case_key = q.text(1);
      c.suite = q.text(2);
      c.suite_file_hash = q.text(3);
      c.phase = q.text(4);
      c.backend = q.text(5);
      c.device = q.text(6);
      c.variant = q.text(7);
      c.config = q.text(8);
      c.dtype = q.text(9);
      c.batch = q.opt_int64(10);
      c.heads_q = q.opt_int64(11);
      c.heads_kv = q.opt_int64(12);
      c.len_q = q.opt_int64(13);
      c.len_k = q.opt_int64(14);
      c.head_dim = q.opt_int64(15);
      c.page_size = q.opt_int64(16);
      c.shape = q.text(17);
      c.status = q.text(18);
      c.message = q.text(19);
      c.flops = q.opt_real(20);
      c.bytes = q.opt_real(21);
      c.group = q.text(22);
      c.target = q.text(23);
      index.emplace(c.id, cases.size());
      cases.push_back(std::move(c));
    }
  }
  {
    Query q(db, path,
            "SELECT m.case_id, m.name, m.value, m.unit FROM metrics m "
            "JOIN cases c ON c.id = m.case_id WHERE c.run_id = ? ORDER BY m.case_id, m.name");
    q.bind(1, run_id);
    while (q.step()) {
      auto it = index.find(q.int64(0));
      if (it == index.end()) continue;
      cases[it->second].metrics.push_back(Metric{q.text(1), q.opt_real(2), q.text(3)});
    }
  }
  {
    Query q(db, path,
            "SELECT s.case_id, s.repetition, s.iterations, s.seconds FROM samples s "
            "JOIN cases c ON c.id = s.case_id WHERE c.run_id = ? "
            "ORDER BY s.case_id, s.repetition");
    q.bind(1, run_id);
    while (q.step()) {
      auto it = index.find(q.int64(0));
      if (it == index.end()) continue;
      cases[it->second].samples.push_back(Sample{q.int64(1), q.int64(2), q.real(3)});
    }
  }
  return cases;
}

std::vector<MachinePeak> read_peaks(sqlite3* db, const std::string& path, int64_t run_id) {
  Query q(db, path,
          "SELECT backend, device, name, value, unit FROM machine_peaks WHERE run_id = ? "
          "ORDER BY backend, device, name");
  q.bind(1, run_id);
  std::vector<MachinePeak> peaks;
  while (q.step()) peaks.push_back(MachinePeak{q.text(0), q.text(1), q.text(2), q.real(3), q.text(4)});
  return peaks;
}

}  // namespace

RunData load_runs(const std::string& db_path, const std::vector<int64_t>& run_ids, const std::string& campaign) {
  if (run_ids.empty()) throw std::runtime_error(fmt::format("campaign '{}' holds no runs in '{}'", campaign, db_path));
  Db db = open_read_only(db_path);
  Query(db.get(), db_path, "BEGIN").step();
  require_schema(db.get(), db_path);
  require_sound(db.get(), db_path);
  RunData data;
  std::unordered_map<std::string, size_t> by_key;
  for (int64_t id : run_ids) {
    RunInfo info = read_run(db.get(), db_path, id);
    if (data.parts.empty()) {
      data.run = info;
    } else {
      // One result: incomplete (or failed) while any part is; finished when the last part did.
      if (info.status != "complete" && data.run.status == "complete") data.run.status = info.status;
      if (info.finished_at > data.run.finished_at) data.run.finished_at = info.finished_at;
    }
    data.parts.push_back(info);
    for (CaseResult& c : read_cases(db.get(), db_path, id)) {
      const auto [it, fresh] = by_key.emplace(c.case_key, data.cases.size());
      if (fresh) data.cases.push_back(std::move(c));
      else data.cases[it->second] = std::move(c);
    }
    for (MachinePeak& p : read_peaks(db.get(), db_path, id)) {
      const bool known = std::any_of(data.peaks.begin(), data.peaks.end(), [&](const MachinePeak& q) {
        return q.backend == p.backend && q.device == p.device && q.name == p.name;
      });
      if (!known) data.peaks.push_back(std::move(p));
    }
  }
  data.run.campaign = campaign;
  data.run.campaign_runs = run_ids;
  return data;
}

RunData load_run(const std::string& db_path, std::optional<int64_t> run_id) {
  Db db = open_read_only(db_path);
  // One read transaction: every query sees the same snapshot even while a
  // runner appends cases in WAL mode. The transaction ends when db closes.
  Query(db.get(), db_path, "BEGIN").step();
  require_schema(db.get(), db_path);
  require_sound(db.get(), db_path);
  RunData data;
  data.run = read_run(db.get(), db_path, run_id);
  data.cases = read_cases(db.get(), db_path, data.run.id);
  data.peaks = read_peaks(db.get(), db_path, data.run.id);
  return data;
}

}  // namespace attnbench::reports

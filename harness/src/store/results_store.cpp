#include "results_store.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <filesystem>

#include "store_schema.h"

namespace attnbench::store {
namespace {

std::string utc_now() {
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now())));
}

}  // namespace

int schema_version() { return static_cast<int>(kMigrations.size()); }

ResultsStore::ResultsStore(const std::string& path, bool read_only)
    : db_(std::make_unique<Connection>(path, read_only)), read_only_(read_only) {
  const int version = check_header(path);
  verify_integrity(path);
  if (read_only) {
    if (version == 0) throw StoreError(fmt::format("database '{}' is empty (no attnbench runs)", path));
    return;
  }
  db_->exec("PRAGMA journal_mode = WAL");
  db_->exec("PRAGMA synchronous = NORMAL");
  db_->exec("PRAGMA foreign_keys = ON");
  if (version < schema_version()) migrate();
}

ResultsStore::~ResultsStore() {
  if (!db_ || read_only_) return;
  // WAL lets readers see finished cases while a run writes; at rest the file goes back
  // to a rollback journal, which a read-only open can read without creating -wal/-shm.
  // With another connection still open this fails at once (no busy wait) and the file
  // stays in WAL mode, which is just as valid; the next writer to close tries again.
  sqlite3_busy_timeout(db_->handle(), 0);
  sqlite3_exec(db_->handle(), "PRAGMA journal_mode = DELETE", nullptr, nullptr, nullptr);
}

/// Reads the schema version and refuses foreign, newer or unreadable files; returns the version.
int ResultsStore::check_header(const std::string& path) {
  // Reading the header is the first access; a corrupt or foreign file fails here, untouched.
  int version = 0;
  int64_t tables = 0;
  try {
    Statement v(db_->handle(), "PRAGMA user_version");
    if (v.step()) version = static_cast<int>(v.column_int(0));
    Statement t(db_->handle(), "SELECT count(*) FROM sqlite_master WHERE type = 'table'");
    if (t.step()) tables = t.column_int(0);
  } catch (const StoreError&) {
    if (sqlite3_errcode(db_->handle()) == SQLITE_BUSY || sqlite3_errcode(db_->handle()) == SQLITE_LOCKED)
      throw StoreError(fmt::format("database '{}' is locked by another process; try again when it finishes", path));
    throw StoreError(fmt::format("database '{}' is not a readable SQLite file ({})", path,
                                 sqlite3_errmsg(db_->handle())));
  }
  if (version == 0 && tables > 0)
    throw StoreError(fmt::format("database '{}' is not an attnbench database (it has tables but no attnbench schema)", path));
  if (version > schema_version())
    throw StoreError(fmt::format("database '{}' has schema version {}, newer than this build's {}; upgrade attnbench",
                                 path, version, schema_version()));
  return version;
}

/// Refuses a damaged file before anything is written to it: SQLite only notices damage
/// on the pages a statement touches, so a run would otherwise append to a corrupt file.
void ResultsStore::verify_integrity(const std::string& path) {
  std::error_code ec;
  const uintmax_t bytes = std::filesystem::file_size(path, ec);
  if (!ec && !quick_check_on_open(bytes, read_only_)) return;
  const QuickCheck q = run_quick_check(db_->handle());
  if (q.locked())
    throw StoreError(fmt::format("database '{}' is locked by another process; try again when it finishes", path));
  if (!q.sound())
    throw StoreError(fmt::format("database '{}' is corrupt (PRAGMA quick_check: {}); it was left as it is: restore "
                                 "it from a copy, or salvage it with `sqlite3 {} .recover`",
                                 path, q.findings, path));
}

void ResultsStore::migrate() {
  with_transaction(*db_, [&] {
    int version = 0;
    {
      Statement v(db_->handle(), "PRAGMA user_version");
      if (v.step()) version = static_cast<int>(v.column_int(0));
    }
    for (int i = version; i < schema_version(); ++i) db_->exec(std::string(kMigrations[i]).c_str());
    // PRAGMA takes no bound parameters; the value is our own integer constant.
    db_->exec(fmt::format("PRAGMA user_version = {}", schema_version()).c_str());
  });
}

int64_t ResultsStore::begin_run(const RunRecord& r) {
  Statement s(db_->handle(),
              "INSERT INTO runs (started_at, status, git_sha, build_type, compiler, compile_flags, library_versions,"
              " host, os, cpu, gpu, driver, command_line, seed, quick, selection)"
              " VALUES (?, 'incomplete', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  s.bind(1, r.started_at.empty() ? utc_now() : r.started_at)
      .bind(2, r.git_sha).bind(3, r.build_type).bind(4, r.compiler).bind(5, r.compile_flags)
      .bind(6, r.library_versions).bind(7, r.host).bind(8, r.os).bind(9, r.cpu).bind(10, r.gpu)
      .bind(11, r.driver).bind(12, r.command_line).bind(13, r.seed).bind(14, static_cast<int64_t>(r.quick))
      .bind(15, r.selection);
  s.run();
  return sqlite3_last_insert_rowid(db_->handle());
}

void ResultsStore::finish_run(int64_t run_id, const std::string& status) {
  Statement s(db_->handle(), "UPDATE runs SET status = ?, finished_at = ? WHERE id = ?");
  s.bind(1, status).bind(2, utc_now()).bind(3, run_id);
  s.run();
}

void ResultsStore::add_peak(int64_t run_id, const std::string& backend, const std::string& device,
                            const std::string& name, double value, const std::string& unit) {
  Statement s(db_->handle(),
              "INSERT OR REPLACE INTO machine_peaks (run_id, backend, device, name, value, unit) VALUES (?, ?, ?, ?, ?, ?)");
  s.bind(1, run_id).bind(2, backend).bind(3, device).bind(4, name).bind(5, value).bind(6, unit);
  s.run();
}

void ResultsStore::add_case(int64_t run_id, const CaseRecord& c) {
  with_transaction(*db_, [&] {
    Statement s(db_->handle(),
                "INSERT INTO cases (run_id, case_key, suite, suite_file_hash, phase, backend, device, variant, config,"
                " dtype, batch, heads_q, heads_kv, len_q, len_k, head_dim, page_size, shape, status, message, flops, bytes,"
                " group_name, target) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, run_id).bind(2, c.case_key).bind(3, c.suite).bind(4, c.suite_file_hash).bind(5, c.phase)
        .bind(6, c.backend).bind(7, c.device).bind(8, c.variant).bind(9, c.config).bind(10, c.dtype)
        .bind(11, c.batch).bind(12, c.heads_q).bind(13, c.heads_kv).bind(14, c.len_q).bind(15, c.len_k)
        .bind(16, c.head_dim).bind(17, c.page_size).bind(18, c.shape).bind(19, c.status).bind(20, c.message);
    if (c.flops) s.bind(21, *c.flops); else s.bind_null(21);
    if (c.bytes) s.bind(22, *c.bytes); else s.bind_null(22);
    s.bind(23, c.group);
    if (!c.target.empty()) s.bind(24, c.target); else s.bind_null(24);
    s.run();
    const int64_t case_id = sqlite3_last_insert_rowid(db_->handle());
    Statement sample(db_->handle(), "INSERT INTO samples (case_id, repetition, iterations, seconds) VALUES (?, ?, ?, ?)");
    for (const auto& x : c.samples) {
      sample.bind(1, case_id).bind(2, x.repetition).bind(3, x.iterations).bind(4, x.seconds);
      sample.run();
    }
    Statement metric(db_->handle(), "INSERT OR REPLACE INTO metrics (case_id, name, value, unit) VALUES (?, ?, ?, ?)");
    for (const auto& m : c.metrics) {
      metric.bind(1, case_id).bind(2, m.name).bind(3, m.value).bind(4, m.unit);
      metric.run();
    }
  });
}

std::set<std::string> ResultsStore::case_keys(int64_t run_id) {
  std::set<std::string> keys;
  Statement s(db_->handle(), "SELECT case_key FROM cases WHERE run_id = ?");
  s.bind(1, run_id);
  while (s.step()) keys.insert(s.column_text(0));
  return keys;
}

std::optional<RunRecord> ResultsStore::load_run(std::optional<int64_t> id) {
  const char* sql_by_id =
      "SELECT id, started_at, coalesce(finished_at, ''), status, git_sha, build_type, compiler, compile_flags,"
      " library_versions, host, os, cpu, gpu, driver, command_line, seed, quick, selection FROM runs WHERE id = ?";
  const char* sql_latest =
      "SELECT id, started_at, coalesce(finished_at, ''), status, git_sha, build_type, compiler, compile_flags,"
      " library_versions, host, os, cpu, gpu, driver, command_line, seed, quick, selection FROM runs"
      " ORDER BY id DESC LIMIT 1";
  Statement s(db_->handle(), id ? sql_by_id : sql_latest);
  if (id) s.bind(1, *id);
  if (!s.step()) return std::nullopt;
  RunRecord r;
  r.id = s.column_int(0);
  r.started_at = s.column_text(1); r.finished_at = s.column_text(2); r.status = s.column_text(3);
  r.git_sha = s.column_text(4); r.build_type = s.column_text(5); r.compiler = s.column_text(6);
  r.compile_flags = s.column_text(7); r.library_versions = s.column_text(8); r.host = s.column_text(9);
  r.os = s.column_text(10); r.cpu = s.column_text(11); r.gpu = s.column_text(12); r.driver = s.column_text(13);
  r.command_line = s.column_text(14); r.seed = s.column_int(15); r.quick = s.column_int(16) != 0;
  r.selection = s.column_text(17);
  return r;
}

std::optional<double> ResultsStore::peak(int64_t run_id, const std::string& backend, const std::string& name) {
  Statement s(db_->handle(), "SELECT value FROM machine_peaks WHERE run_id = ? AND backend = ? AND name = ? LIMIT 1");
  s.bind(1, run_id).bind(2, backend).bind(3, name);
  if (!s.step()) return std::nullopt;
  return s.column_double(0);
}

}  // namespace attnbench::store

#include "sqlite_db.h"

#include <fmt/format.h>

namespace attnbench::store {

Statement::Statement(sqlite3* db, const char* sql) : db_(db) {
  if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
    throw StoreError(fmt::format("{}: {}", sqlite3_db_filename(db, "main") ? sqlite3_db_filename(db, "main") : "db",
                                 sqlite3_errmsg(db)));
}
Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); return *this; }
Statement& Statement::bind(int i, double v) { sqlite3_bind_double(stmt_, i, v); return *this; }
Statement& Statement::bind(int i, const std::string& v) {
  sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Statement& Statement::bind(int i, const char* v) { return v ? bind(i, std::string(v)) : bind_null(i); }
Statement& Statement::bind_null(int i) { sqlite3_bind_null(stmt_, i); return *this; }

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throw StoreError(fmt::format("{}: {}", sqlite3_db_filename(db_, "main"), sqlite3_errmsg(db_)));
}
void Statement::run() { while (step()) {} reset(); }
void Statement::reset() { sqlite3_reset(stmt_); sqlite3_clear_bindings(stmt_); }

std::string Statement::column_text(int i) const {
  const auto* p = sqlite3_column_text(stmt_, i);
  return p ? std::string(reinterpret_cast<const char*>(p)) : std::string();
}

Connection::Connection(const std::string& path, bool read_only) : path_(path) {
  int rc;
  if (read_only) {
    const ReadOnlyMode mode = read_only_mode_for(path);
    immutable_ = mode == ReadOnlyMode::immutable;
    rc = open_read_only(path, &db_, mode);
  } else {
    rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  }
  if (rc != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw StoreError(fmt::format("cannot open database '{}': {}", path, msg));
  }
  // Wait for a concurrent writer rather than failing at once; past this, report "locked".
  sqlite3_busy_timeout(db_, 5000);
  sqlite3_extended_result_codes(db_, 0);
}

Connection::~Connection() { sqlite3_close(db_); }

void Connection::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    throw StoreError(fmt::format("database '{}': {}", path_, msg));
  }
}

std::string Connection::error(const char* what) const {
  return fmt::format("database '{}': {}: {}", path_, what, sqlite3_errmsg(db_));
}

}  // namespace attnbench::store

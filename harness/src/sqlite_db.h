// Thin RAII wrappers over the SQLite C API: a connection and prepared statements
// with bound parameters only (no SQL is ever built from data).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace attnbench::store {

/// A store failure, with a one-line message naming the file.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A prepared statement; bind() is 1-based like SQLite.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, int64_t v);
  Statement& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Statement& bind(int i, double v);
  Statement& bind(int i, const std::string& v);
  Statement& bind(int i, const char* v);
  Statement& bind_null(int i);
  /// Steps once; true while a row is available.
  bool step();
  /// Steps to completion (for statements without results).
  void run();
  void reset();

  int64_t column_int(int i) const { return sqlite3_column_int64(stmt_, i); }
  double column_double(int i) const { return sqlite3_column_double(stmt_, i); }
  std::string column_text(int i) const;
  bool column_is_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

/// An open connection.
class Connection {
 public:
  /// Opens `path`; read_only never creates or modifies the file. Throws StoreError.
  Connection(const std::string& path, bool read_only);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }
  /// Executes SQL without parameters (schema, pragmas, transactions).
  void exec(const char* sql);
  /// A one-line error message for the last failure, prefixed with the file name.
  std::string error(const char* what) const;

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

/// Runs `fn` inside BEGIN IMMEDIATE ... COMMIT; rolls back and rethrows on failure.
template <class Fn>
void with_transaction(Connection& c, Fn&& fn) {
  c.exec("BEGIN IMMEDIATE");
  try {
    fn();
    c.exec("COMMIT");
  } catch (...) {
    sqlite3_exec(c.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

}  // namespace attnbench::store

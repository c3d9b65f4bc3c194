// Thin RAII wrappers over the SQLite C API: a connection and prepared statements
// with bound parameters only (no SQL is ever built from data). The read-only open
// and the integrity check at the end are header-only so that the reports library,
// which links no engine code, opens databases exactly as the store does.
#pragma once

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
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
  /// Opens `path`; read_only never creates or modifies the file and opens it in
  /// read_only_mode_for(path) (no -wal/-shm files in a read-only directory). Throws StoreError.
  Connection(const std::string& path, bool read_only);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }
  /// True when SQLite opened the file read-only (SQLITE_OPEN_READONLY took effect).
  bool read_only() const { return sqlite3_db_readonly(db_, "main") == 1; }
  /// True when the file was opened with ?immutable=1 (see ReadOnlyMode).
  bool immutable() const { return immutable_; }
  /// Executes SQL without parameters (schema, pragmas, transactions).
  void exec(const char* sql);
  /// A one-line error message for the last failure, prefixed with the file name.
  std::string error(const char* what) const;

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
  bool immutable_ = false;
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

/// How a read-only connection opens a file.
enum class ReadOnlyMode {
  plain,      ///< SQLITE_OPEN_READONLY: sees a live writer's WAL; beside a WAL-mode file it
              ///< creates -wal/-shm where it can (SQLite needs the -shm index to read)
  immutable,  ///< URI ?immutable=1: no locks, no side files, no WAL read
};

/**
 * The mode for a read-only open. Files the store wrote are in rollback mode at rest
 * (ResultsStore switches back when a writer closes), and a plain open of those creates
 * nothing. A WAL-mode file without a -wal (an older build's, or one a reader kept in WAL)
 * opens immutable only in a read-only directory: a plain open there fails (SQLite cannot
 * create the -shm) or, as root, litters it, and no writer is expected to start there.
 * Everywhere else plain, which stays correct next to a writer that starts while we read.
 */
inline ReadOnlyMode read_only_mode(bool wal_header, bool wal_file_exists, bool dir_writable) {
  return wal_header && !wal_file_exists && !dir_writable ? ReadOnlyMode::immutable : ReadOnlyMode::plain;
}

/// True when the file's header says WAL mode (bytes 18 and 19 are 2); false if unreadable.
inline bool wal_mode_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char header[20] = {};
  return in.read(header, sizeof header) && header[18] == 2 && header[19] == 2;
}

/// True when files may be created beside `path`: we have write access and the directory
/// has a write bit at all. The second part is for root, whom access() always lets write:
/// a directory chmod'ed to 0555 is meant to be read-only, and we treat it so.
inline bool directory_writable(const std::string& path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  const auto perms = std::filesystem::status(dir, ec).permissions();
  const auto any_write = std::filesystem::perms::owner_write | std::filesystem::perms::group_write |
                         std::filesystem::perms::others_write;
  return !ec && (perms & any_write) != std::filesystem::perms::none && ::access(dir.c_str(), W_OK) == 0;
}

/// The mode read_only_mode() picks for the file at `path` as it is now.
inline ReadOnlyMode read_only_mode_for(const std::string& path) {
  std::error_code ec;
  return read_only_mode(wal_mode_header(path), std::filesystem::exists(path + "-wal", ec), directory_writable(path));
}

/// "file:" URI of `path` with ?immutable=1, percent-encoding all but unreserved characters and '/'.
inline std::string immutable_uri(const std::string& path) {
  static const char* hex = "0123456789ABCDEF";
  std::string uri = "file:";
  for (unsigned char ch : path) {
    if (std::isalnum(ch) || ch == '/' || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      uri += static_cast<char>(ch);
    } else {
      uri += '%';
      uri += hex[ch >> 4];
      uri += hex[ch & 15];
    }
  }
  return uri + "?immutable=1";
}

/// Opens `path` read-only in read_only_mode_for(path); returns the sqlite3_open_v2 code
/// (the caller closes *db either way). Never creates the database file.
inline int open_read_only(const std::string& path, sqlite3** db, ReadOnlyMode mode) {
  if (mode == ReadOnlyMode::immutable)
    return sqlite3_open_v2(immutable_uri(path).c_str(), db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  return sqlite3_open_v2(path.c_str(), db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
}

/// Files up to this size get PRAGMA quick_check on every open; read-only opens of larger
/// ones skip it. Measured: 2.9 ms of CPU per MiB with a warm page cache (0.3 ms for a
/// quick correctness run's 168 KiB, 0.86 s for 298 MiB), so a read-only open pays at most
/// about 0.2 s; reads of bigger files still fail on any damaged page they touch. Opens for
/// writing always check: a run appended to a damaged file could spread the damage.
inline constexpr uintmax_t kQuickCheckReadLimitBytes = uintmax_t{64} << 20;

/// Whether an open of a `file_bytes` file runs quick_check (see kQuickCheckReadLimitBytes).
inline bool quick_check_on_open(uintmax_t file_bytes, bool read_only) {
  return !read_only || file_bytes <= kQuickCheckReadLimitBytes;
}

/// Joins quick_check's findings (one per row, "*** in database" headers dropped) into one line.
inline std::string one_line_findings(const std::string& findings, const std::string& more) {
  std::string out;
  size_t start = 0;
  while (start < findings.size()) {
    const size_t end = std::min(findings.find('\n', start), findings.size());
    const std::string line = findings.substr(start, end - start);
    if (!line.empty() && line.rfind("***", 0) != 0) out += (out.empty() ? "" : "; ") + line;
    start = end + 1;
  }
  if (out.size() > 300) out = out.substr(0, 300) + "...";
  return out + more;
}

/// Outcome of quick_check: rc is SQLite's code for the check itself (SQLITE_BUSY when
/// another connection holds the file), findings empty for a sound file.
struct QuickCheck {
  int rc = SQLITE_OK;
  std::string findings;
  bool sound() const { return rc == SQLITE_OK && findings.empty(); }
  bool locked() const { return rc == SQLITE_BUSY || rc == SQLITE_LOCKED; }
};

/**
 * Runs PRAGMA quick_check (b-tree structure, page and freelist accounting, record
 * formats; not index contents, which integrity_check adds at about 5x the cost) and
 * gives its findings in one line. A page too damaged to read makes the check itself
 * fail with SQLITE_CORRUPT; that is a finding too.
 */
inline QuickCheck run_quick_check(sqlite3* db) {
  QuickCheck q;
  sqlite3_stmt* s = nullptr;
  // At most 20 findings: enough to name the damage, and the check stops there.
  if ((q.rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(20)", -1, &s, nullptr)) != SQLITE_OK) {
    q.findings = one_line_findings(sqlite3_errmsg(db), "");
    return q;
  }
  std::string rows;
  int n = 0;
  while ((q.rc = sqlite3_step(s)) == SQLITE_ROW) {
    const auto* t = sqlite3_column_text(s, 0);
    if (n++) rows += '\n';
    if (t) rows += reinterpret_cast<const char*>(t);
  }
  const std::string error = q.rc == SQLITE_DONE ? "" : sqlite3_errmsg(db);
  sqlite3_finalize(s);
  if (q.rc == SQLITE_DONE) q.rc = SQLITE_OK;
  if (!error.empty()) q.findings = one_line_findings(rows, rows.empty() ? error : "; " + error);
  else if (!(n == 1 && rows == "ok")) q.findings = one_line_findings(rows, "");
  return q;
}

}  // namespace attnbench::store

// Helpers for end-to-end tests: run the attnbench binary, capture exit code and output.
#pragma once

#include <sqlite3.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace attnbench::test {

/// Exit status and captured streams of one command.
struct CmdResult {
  int code = -1;
  std::string out, err;
};

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// A fresh temporary directory, removed when the object dies.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/attnbench-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::error_code ec; std::filesystem::remove_all(path, ec); }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

/// Runs `attnbench <args>` (args are trusted test strings) with optional env prefix.
inline CmdResult run_attnbench(const std::string& args, const std::string& env = "") {
  TempDir io;
  const std::string cmd = env + " '" ATTNBENCH_BIN_DIR "/attnbench' " + args + " >'" + io / "out" + "' 2>'" + io / "err" + "'";
  const int status = std::system(cmd.c_str());
  CmdResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(io / "out");
  r.err = read_file(io / "err");
  return r;
}

/// Number of lines in s (a trailing newline does not start a new line).
inline int line_count(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n + (!s.empty() && s.back() != '\n');
}

/// First column of the first row of a query on a database file (opened read-only).
inline std::string query_one(const std::string& db, const std::string& sql) {
  sqlite3* h = nullptr;
  std::string out;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
      const auto* t = sqlite3_column_text(st, 0);
      out = t ? reinterpret_cast<const char*>(t) : "";
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(h);
  return out;
}

/// Writes text to a file.
inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

/// A small valid suite: two flash configurations over two lengths, timed.
inline std::string tiny_suite_json(const std::string& name = "tiny") {
  return R"({"suite": ")" + name + R"(", "description": "tiny test suite",
  "defaults": {"phase": "prefill", "check": "sampled", "repetitions": 2, "min_time": 0.0,
               "axes": {"heads_q": 2, "head_dim": 64}},
  "groups": [{"name": "g", "variants": ["flash", "flash:causal"], "axes": {"len": [64, 128]}}]})";
}

}  // namespace attnbench::test

// Shared by the report tests: builds small results databases with the real
// schema through bound statements, and reads rendered pages back.
#pragma once

#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "store_schema.h"

namespace report_test {

namespace fs = std::filesystem;

/// A fresh, empty directory per test, under the build tree so artifacts
/// (the screenshot) can be inspected after a run.
inline fs::path fresh_dir(const std::string& group, const std::string& name) {
#ifdef ATTNBENCH_BINARY_DIR
  fs::path base = fs::path(ATTNBENCH_BINARY_DIR) / "test-artifacts" / group;
#else
  fs::path base = fs::temp_directory_path() / ("attnbench-" + group);
#endif
  fs::path dir = base / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

/// The text of the element that starts at the first occurrence of `open_tag_start`
/// (e.g. "<svg id=\"x\"") up to the matching `close` (first one after it).
inline std::string element(const std::string& html, const std::string& open_tag_start,
                           const std::string& close) {
  size_t a = html.find(open_tag_start);
  if (a == std::string::npos) return {};
  size_t b = html.find(close, a);
  return b == std::string::npos ? std::string() : html.substr(a, b + close.size() - a);
}

/// Thin helper over the test database: every write is a bound statement.
class TestDb {
 public:
  explicit TestDb(const fs::path& path) {
    REQUIRE(sqlite3_open(path.c_str(), &db_) == SQLITE_OK);
    exec("PRAGMA journal_mode=WAL");  // as the store writes it
    exec(std::string(attnbench::store::kMigrations[0]));
    exec("PRAGMA user_version=1");
  }
  ~TestDb() { sqlite3_close(db_); }
  TestDb(const TestDb&) = delete;
  TestDb& operator=(const TestDb&) = delete;

  void exec(const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    INFO((err ? err : ""));
    sqlite3_free(err);
    REQUIRE(rc == SQLITE_OK);
  }

  /// Runs `sql` with `args` bound in order (int64, double, text or NULL).
  using Arg = std::variant<std::nullptr_t, int64_t, double, std::string>;
  int64_t insert(const char* sql, const std::vector<Arg>& args) {
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, sql, -1, &st, nullptr) == SQLITE_OK);
    for (size_t i = 0; i < args.size(); ++i) {
      int idx = static_cast<int>(i) + 1;
      std::visit(
          [&](auto&& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::nullptr_t>) sqlite3_bind_null(st, idx);
            else if constexpr (std::is_same_v<T, int64_t>) sqlite3_bind_int64(st, idx, v);
            else if constexpr (std::is_same_v<T, double>) sqlite3_bind_double(st, idx, v);
            else sqlite3_bind_text(st, idx, v.c_str(), -1, SQLITE_TRANSIENT);
          },
          args[i]);
    }
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    INFO(sqlite3_errmsg(db_));
    REQUIRE(rc == SQLITE_DONE);
    return sqlite3_last_insert_rowid(db_);
  }

  int64_t add_run(const std::string& started, const std::string& status,
                  const std::string& cpu = "AMD EPYC <test>") {
    return insert(
        "INSERT INTO runs (started_at, finished_at, status, git_sha, build_type, compiler, "
        "compile_flags, library_versions, host, os, cpu, gpu, driver, command_line, seed, quick, "
        "selection) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        {started, std::string("2025-01-01T00:05:00Z"), status, std::string("0123456789abcdef"),
         std::string("Release"), std::string("GNU 12.2.0"), std::string("-O3 -march=native"),
         std::string(R"({"fmt":"9.1.0","sqlite":"3.40.1","tbb":"2021.8"})"),
         std::string("bench-host"), std::string("Debian 12"), cpu, std::string(""),
         std::string(""), std::string("attnbench run --suite long-context,correctness --quick"),
         int64_t{1}, int64_t{1}, std::string(R"({"suites":["long-context","correctness"]})")});
  }

  /// A case with any fields; metrics and samples given explicitly.
  struct Row {
    std::string suite = "long-context", backend = "cpu", device = "host", config, phase = "prefill",
                dtype = "fp32", status = "ok", message, shape;
    int64_t len_q = 0, len_k = 0;
    std::optional<double> flops, bytes;
    std::map<std::string, double> metrics;  // unit: "" (the report formats by name where it matters)
    std::vector<double> samples;            // seconds per call, one per repetition
  };

  int64_t add_row(int64_t run, const Row& r) {
    std::string shape = r.shape.empty()
                            ? fmt::format("b=1,hq=8,hkv=2,lq={},lk={},d=64", r.len_q, r.len_k)
                            : r.shape;
    auto opt = [](const std::optional<double>& v) -> Arg { return v ? Arg(*v) : Arg(nullptr); };
    int64_t id = insert(
        "INSERT INTO cases (run_id, case_key, suite, suite_file_hash, phase, backend, device, "
        "variant, config, dtype, batch, heads_q, heads_kv, len_q, len_k, head_dim, page_size, "
        "shape, status, message, flops, bytes) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        {run, fmt::format("{}/{}/{}/{}", r.suite, r.backend, r.config, shape), r.suite,
         std::string("hash"), r.phase, r.backend, r.device, r.config.substr(0, r.config.find(':')),
         r.config, r.dtype, int64_t{1}, int64_t{8}, int64_t{2}, r.len_q, r.len_k, int64_t{64},
         nullptr, shape, r.status, r.message, opt(r.flops), opt(r.bytes)});
    for (const auto& [name, v] : r.metrics)
      insert("INSERT INTO metrics (case_id, name, value, unit) VALUES (?,?,?,?)",
             {id, name, v, unit_of(name)});
    for (size_t i = 0; i < r.samples.size(); ++i)
      insert("INSERT INTO samples (case_id, repetition, iterations, seconds) VALUES (?,?,?,?)",
             {id, static_cast<int64_t>(i), int64_t{10}, r.samples[i]});
    return id;
  }

  /// The unit the runner stores with a metric name.
  static std::string unit_of(const std::string& name) {
    static const std::map<std::string, std::string> kUnits{
        {"time_median", "s"}, {"time_min", "s"}, {"time_mad", "s"}, {"compress_time", "s"},
        {"decode_time", "s"}, {"flops_per_second", "FLOP/s"}, {"bytes_per_second", "B/s"},
        {"kv_bytes", "B"}, {"kv_bytes_full", "B"}, {"fraction_peak_flops", "ratio"},
        {"fraction_peak_bandwidth", "ratio"}, {"rel_error", "ratio"},
        {"recall_accuracy", "ratio"}, {"attention_mass_kept", "ratio"}, {"needle_depth", "ratio"}};
    auto it = kUnits.find(name);
    return it == kUnits.end() ? std::string() : it->second;
  }

  void add_peak(int64_t run, const char* name, double v, const char* unit,
                const std::string& backend = "cpu", const std::string& device = "host") {
    insert("INSERT INTO machine_peaks (run_id, backend, device, name, value, unit) "
           "VALUES (?,?,?,?,?,?)",
           {run, backend, device, std::string(name), v, std::string(unit)});
  }

 private:
  sqlite3* db_ = nullptr;
};

/// Runs headless chromium on `html` with --dump-dom (and, when `png` is not
/// empty, a second pass writing a screenshot at `width` x `height`). Returns
/// the dumped DOM; the logs go next to the page. Empty when chromium is absent.
inline std::string chromium_dump_dom(const fs::path& html, const fs::path& png, int width = 1280,
                                     int height = 2000) {
  const char* chromium = "/usr/bin/chromium";
  if (!fs::exists(chromium)) return {};
  fs::path dir = html.parent_path();
  fs::path profile = dir / "profile";
  fs::create_directories(profile);
  const std::string common = fmt::format(
      "timeout 120 {} --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
      "--disable-background-networking --disable-component-update --disable-sync "
      "--hide-scrollbars --user-data-dir='{}'",
      chromium, profile.string());
  std::string url = "file://" + fs::absolute(html).string();
  fs::path dom = dir / "dom.html";
  std::string cmd = fmt::format("{} --dump-dom '{}' >'{}' 2>'{}'", common, url, dom.string(),
                                (dir / "chromium-dom.log").string());
  int rc = std::system(cmd.c_str());
  INFO("chromium log: " << slurp(dir / "chromium-dom.log"));
  CHECK(rc == 0);
  if (!png.empty()) {
    cmd = fmt::format("{} --screenshot='{}' --window-size={},{} '{}' >'{}' 2>&1", common,
                      png.string(), width, height, url, (dir / "chromium-shot.log").string());
    rc = std::system(cmd.c_str());
    INFO("chromium log: " << slurp(dir / "chromium-shot.log"));
    CHECK(rc == 0);
  }
  return slurp(dom);
}

}  // namespace report_test

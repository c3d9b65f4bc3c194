// The HTML report end to end: a small database built here with the real schema,
// rendered, and checked for escaping, structure, embedded data and failure modes.
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "html_report.h"
#include "store_schema.h"

namespace fs = std::filesystem;
using attnbench::reports::write_html_report;

namespace {

const std::string kEvil = "kernel crashed: <script>alert(1)</script>";
const std::string kOddConfig = "flash:causal,tag=\"&'";

/// A fresh, empty directory per test, under the build tree so artifacts
/// (the screenshot) can be inspected after a run.
fs::path fresh_dir(const std::string& name) {
#ifdef ATTNBENCH_BINARY_DIR
  fs::path base = fs::path(ATTNBENCH_BINARY_DIR) / "test-artifacts" / "report_html";
#else
  fs::path base = fs::temp_directory_path() / "attnbench-report-html";
#endif
  fs::path dir = base / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
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

  int64_t add_run(const std::string& started, const std::string& status) {
    return insert(
        "INSERT INTO runs (started_at, finished_at, status, git_sha, build_type, compiler, "
        "compile_flags, library_versions, host, os, cpu, gpu, driver, command_line, seed, quick, "
        "selection) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        {started, std::string("2025-01-01T00:05:00Z"), status, std::string("0123456789abcdef"),
         std::string("Release"), std::string("GNU 12.2.0"), std::string("-O3 -march=native"),
         std::string(R"({"fmt":"9.1.0","sqlite":"3.40.1","tbb":"2021.8"})"),
         std::string("bench-host"), std::string("Debian 12"), std::string("AMD EPYC <test>"),
         std::string(""), std::string(""),
         std::string("attnbench run --suite long-context,correctness --quick"), int64_t{1},
         int64_t{1}, std::string(R"({"suites":["long-context","correctness"]})")});
  }

  struct CaseSpec {
    std::string suite, config, phase = "prefill", status = "ok", message;
    int64_t len_k = 0;
    double median = 0;
  };

  int64_t add_case(int64_t run, const CaseSpec& c) {
    std::string shape = fmt::format("b=1,hq=8,hkv=2,lq={0},lk={0},d=64", c.len_k);
    int64_t id = insert(
        "INSERT INTO cases (run_id, case_key, suite, suite_file_hash, phase, backend, device, "
        "variant, config, dtype, batch, heads_q, heads_kv, len_q, len_k, head_dim, page_size, "
        "shape, status, message, flops, bytes) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        {run, fmt::format("{}/cpu/{}/{}", c.suite, c.config, shape), c.suite,
         std::string("hash"), c.phase, std::string("cpu"), std::string("host"),
         c.config.substr(0, c.config.find(':')), c.config, std::string("fp32"), int64_t{1},
         int64_t{8}, int64_t{2}, c.len_k, c.len_k, int64_t{64}, nullptr, shape, c.status,
         c.message, 4.0 * 8 * 64 * c.len_k * c.len_k, 4.0 * 3 * 8 * 64 * c.len_k});
    if (c.status != "ok") return id;
    auto metric = [&](const char* name, double v, const char* unit) {
      insert("INSERT INTO metrics (case_id, name, value, unit) VALUES (?,?,?,?)",
             {id, std::string(name), v, std::string(unit)});
    };
    metric("time_median", c.median, "s");
    metric("time_min", c.median * 0.97, "s");
    metric("time_mad", c.median * 0.02, "s");
    metric("flops_per_second", 4.0 * 8 * 64 * c.len_k * c.len_k / c.median, "FLOP/s");
    metric("bytes_per_second", 4.0 * 3 * 8 * 64 * c.len_k / c.median, "B/s");
    metric("fraction_peak_flops", 0.31, "ratio");
    metric("fraction_peak_bandwidth", 0.05, "ratio");
    metric("rel_error", 2.5e-7, "ratio");
    metric("max_abs_error", 1.1e-6, "");
    metric("kv_bytes", 2.0 * 2 * 64 * 4 * c.len_k, "B");
    metric("recall_accuracy", 0.975, "ratio");
    for (int64_t rep = 0; rep < 3; ++rep)
      insert("INSERT INTO samples (case_id, repetition, iterations, seconds) VALUES (?,?,?,?)",
             {id, rep, int64_t{10}, c.median * (1 + 0.01 * static_cast<double>(rep))});
    return id;
  }

  void add_peak(int64_t run, const char* name, double v, const char* unit) {
    insert("INSERT INTO machine_peaks (run_id, backend, device, name, value, unit) "
           "VALUES (?,?,?,?,?,?)",
           {run, std::string("cpu"), std::string("host"), std::string(name), v, std::string(unit)});
  }

 private:
  sqlite3* db_ = nullptr;
};

constexpr size_t kRun1Cases = 9;

/// Run 1: long-context with two variants over 3 lengths plus one failed case,
/// correctness with one ok and one unsupported case. Run 2: newer, one case.
void build_db(const fs::path& path) {
  TestDb db(path);
  int64_t run = db.add_run("2025-01-01T00:00:00Z", "complete");
  db.add_peak(run, "flops_f32", 1.2e12, "FLOP/s");
  db.add_peak(run, "flops_f16", 2.4e12, "FLOP/s");
  db.add_peak(run, "bytes_per_second", 9.0e10, "B/s");
  for (int64_t len : {512, 1024, 2048}) {
    double l = static_cast<double>(len) / 512;
    db.add_case(run, {"long-context", kOddConfig, "prefill", "ok", "", len, 1e-4 * l * l});
    db.add_case(run, {"long-context", "naive:causal", "prefill", "ok", "", len, 4e-4 * l * l});
  }
  db.add_case(run, {"long-context", "naive:causal", "prefill", "failed", kEvil, 4096, 0});
  db.add_case(run, {"correctness", "flash:causal", "correctness", "ok", "", 100, 2e-5});
  db.add_case(run, {"correctness", "sliding:window=64", "correctness", "unsupported",
                    "backend declares no sliding-window support", 100, 0});
  int64_t run2 = db.add_run("2025-02-01T00:00:00Z", "incomplete");
  db.add_case(run2, {"long-context", "flash:causal", "decode", "ok", "", 512, 3e-5});
}

/// The embedded JSON blob, parsed back.
nlohmann::json embedded_data(const std::string& html) {
  const std::string open = "<script type=\"application/json\" id=\"attnbench-data\">";
  size_t a = html.find(open);
  REQUIRE(a != std::string::npos);
  a += open.size();
  size_t b = html.find("</script>", a);
  REQUIRE(b != std::string::npos);
  return nlohmann::json::parse(html.substr(a, b - a));
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  FAIL("expected std::runtime_error");
  return {};
}

}  // namespace

TEST_CASE("report renders a run with escaping, charts and embedded data", "[report]") {
  fs::path dir = fresh_dir("render");
  build_db(dir / "results.db");
  fs::path out = dir / "report.html";
  write_html_report((dir / "results.db").string(), int64_t{1}, out.string());

  REQUIRE(fs::exists(out));
  CHECK_FALSE(fs::exists(out.string() + ".tmp"));
  std::string html = slurp(out);
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(html.find("attnbench report \xE2\x80\x94 run 1") != std::string::npos);

  // Database text never becomes markup.
  CHECK(html.find("<script>alert") == std::string::npos);
  CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
  CHECK(html.find("tag=&quot;&amp;&#39;") != std::string::npos);
  CHECK(html.find("tag=\"&'") == std::string::npos);
  CHECK(html.find("AMD EPYC &lt;test&gt;") != std::string::npos);

  // One chart per suite, each a log-log chart with its series in the legend.
  CHECK(count(html, "<svg") == 2);
  CHECK(count(html, "</svg>") == 2);
  CHECK(html.find("context length (len_k)") != std::string::npos);
  CHECK(html.find("naive:causal \xC2\xB7 fp32 \xC2\xB7 cpu \xC2\xB7 prefill") != std::string::npos);
  CHECK(html.find(">1K</text>") != std::string::npos);

  // Provenance, peaks and the failed row's highlight.
  for (const char* s : {"0123456789abcdef", "GNU 12.2.0", "bench-host", "Debian 12",
                        "attnbench run --suite long-context,correctness --quick", "9.1.0",
                        "1.20 TFLOP/s", "90.0 GB/s", "class=\"st-failed\"", "unsupported",
                        "recall_accuracy", "31.0%", "2.50e-07"})
    CHECK(html.find(s) != std::string::npos);

  // No external resources: the page renders offline.
  for (const char* s : {"http://", "https://", "<link", " src="}) {
    INFO(s);
    std::string without_ns = html;
    // The SVG namespace URI is an identifier, not a fetch.
    for (size_t at; (at = without_ns.find("http://www.w3.org/2000/svg")) != std::string::npos;)
      without_ns.erase(at, 26);
    CHECK(without_ns.find(s) == std::string::npos);
  }

  nlohmann::json data = embedded_data(html);
  CHECK(data["schema"] == "attnbench-report-data/1");
  CHECK(data["run"]["id"] == 1);
  CHECK(data["run"]["library_versions"]["fmt"] == "9.1.0");
  REQUIRE(data["cases"].size() == kRun1Cases);
  bool found_evil = false;
  for (const auto& c : data["cases"]) found_evil |= c["message"] == kEvil;
  CHECK(found_evil);
  CHECK(data["cases"][0]["metrics"]["time_median"]["unit"] == "s");
  CHECK(data["cases"][0]["samples"].size() == 3);
  CHECK(data["machine_peaks"].size() == 3);
}

TEST_CASE("report defaults to the newest run", "[report]") {
  fs::path dir = fresh_dir("newest");
  build_db(dir / "results.db");
  fs::path out = dir / "report.html";
  write_html_report((dir / "results.db").string(), std::nullopt, out.string());
  std::string html = slurp(out);
  CHECK(html.find("attnbench report \xE2\x80\x94 run 2") != std::string::npos);
  CHECK(html.find("incomplete") != std::string::npos);
  CHECK(embedded_data(html)["cases"].size() == 1);
}

TEST_CASE("report rejects bad input with one-line messages", "[report]") {
  fs::path dir = fresh_dir("errors");
  fs::path db = dir / "results.db";
  fs::path out = dir / "report.html";
  build_db(db);

  SECTION("unknown run id") {
    std::string msg = error_of([&] { write_html_report(db.string(), int64_t{99}, out.string()); });
    CHECK(msg.find("run 99 not found") != std::string::npos);
    CHECK(msg.find("latest runs: 2, 1") != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
    CHECK_FALSE(fs::exists(out));
  }
  SECTION("missing database") {
    std::string msg =
        error_of([&] { write_html_report((dir / "nope.db").string(), std::nullopt, out.string()); });
    CHECK(msg.find("not found") != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "nope.db"));  // read-only: never created
  }
  SECTION("corrupt file is reported and left unchanged") {
    fs::path bad = dir / "corrupt.db";
    std::string bytes(8192, '\0');
    std::mt19937 rng(7);
    for (char& b : bytes) b = static_cast<char>(rng() & 0xFF);
    { std::ofstream(bad, std::ios::binary) << bytes; }
    // An old report stays in place when the new one cannot be made.
    { std::ofstream(out) << "old report"; }
    std::string msg = error_of([&] { write_html_report(bad.string(), std::nullopt, out.string()); });
    CHECK(msg.find("corrupt.db") != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
    CHECK(slurp(bad) == bytes);
    CHECK(slurp(out) == "old report");
    CHECK_FALSE(fs::exists(out.string() + ".tmp"));
  }
  SECTION("SQLite file without the attnbench tables") {
    fs::path other = dir / "other.db";
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open(other.c_str(), &h) == SQLITE_OK);
    REQUIRE(sqlite3_exec(h, "CREATE TABLE t (x INTEGER)", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(h);
    std::string msg = error_of([&] { write_html_report(other.string(), std::nullopt, out.string()); });
    CHECK(msg.find("not an attnbench database") != std::string::npos);
  }
  SECTION("unwritable output") {
    std::string msg = error_of(
        [&] { write_html_report(db.string(), std::nullopt, (dir / "no/such/dir/r.html").string()); });
    CHECK(msg.find("cannot write") != std::string::npos);
  }
}

TEST_CASE("report renders in headless chromium", "[report][chromium]") {
  const char* chromium = "/usr/bin/chromium";
  if (!fs::exists(chromium)) {
    WARN("chromium not installed; skipping the headless rendering check");
    return;
  }
  fs::path dir = fresh_dir("chromium");
  build_db(dir / "results.db");
  fs::path out = dir / "report.html";
  write_html_report((dir / "results.db").string(), int64_t{1}, out.string());
  fs::path png = dir / "report.png";
  fs::path profile = dir / "profile";
  fs::create_directories(profile);
  std::string cmd = fmt::format(
      "timeout 120 {} --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
      "--disable-background-networking --disable-component-update --disable-sync "
      "--user-data-dir='{}' --screenshot='{}' --window-size=1280,2000 'file://{}' "
      ">'{}' 2>&1",
      chromium, profile.string(), png.string(), fs::absolute(out).string(),
      (dir / "chromium.log").string());
  int rc = std::system(cmd.c_str());
  INFO("chromium log: " << slurp(dir / "chromium.log"));
  CHECK(rc == 0);
  REQUIRE(fs::exists(png));
  CHECK(fs::file_size(png) > 30000);  // a blank 1280x2000 PNG is only a few KB
}

// The HTML report end to end: a small database built here with the real schema,
// rendered, and checked for escaping, structure, embedded data and failure modes.
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "html_report.h"
#include "report_page_rows.h"
#include "test_report_db.h"

namespace fs = std::filesystem;
using attnbench::reports::write_html_report;

namespace {

const std::string kEvil = "kernel crashed: <script>alert(1)</script>";
const std::string kOddConfig = "flash:causal,tag=\"&'";

using report_test::count;
using report_test::slurp;
using report_test::TestDb;

fs::path fresh_dir(const std::string& name) { return report_test::fresh_dir("report_html", name); }

struct CaseSpec {
  std::string suite, config, phase = "prefill", status = "ok", message;
  int64_t len_k = 0;
  double median = 0;
};

/// A prefill-style case (len_q = len_k) with the runner's usual metrics.
int64_t add_case(TestDb& db, int64_t run, const CaseSpec& c) {
  TestDb::Row r;
  r.suite = c.suite;
  r.config = c.config;
  r.phase = c.phase;
  r.status = c.status;
  r.message = c.message;
  r.len_q = r.len_k = c.len_k;
  double l = static_cast<double>(c.len_k);
  r.flops = 4.0 * 8 * 64 * l * l;
  r.bytes = 4.0 * 3 * 8 * 64 * l;
  if (c.status == "ok") {
    r.metrics = {{"time_median", c.median},
                 {"time_min", c.median * 0.97},
                 {"time_mad", c.median * 0.02},
                 {"flops_per_second", *r.flops / c.median},
                 {"bytes_per_second", *r.bytes / c.median},
                 {"fraction_peak_flops", 0.31},
                 {"fraction_peak_bandwidth", 0.05},
                 {"rel_error", 2.5e-7},
                 {"max_abs_error", 1.1e-6},
                 {"kv_bytes", 2.0 * 2 * 64 * 4 * l},
                 {"recall_accuracy", 0.975}};
    for (int rep = 0; rep < 3; ++rep) r.samples.push_back(c.median * (1 + 0.01 * rep));
  }
  return db.add_row(run, r);
}

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
    add_case(db, run, {"long-context", kOddConfig, "prefill", "ok", "", len, 1e-4 * l * l});
    add_case(db, run, {"long-context", "naive:causal", "prefill", "ok", "", len, 4e-4 * l * l});
  }
  add_case(db, run, {"long-context", "naive:causal", "prefill", "failed", kEvil, 4096, 0});
  add_case(db, run, {"correctness", "flash:causal", "correctness", "ok", "", 100, 2e-5});
  add_case(db, run, {"correctness", "sliding:window=64", "correctness", "unsupported",
                    "backend declares no sliding-window support", 100, 0});
  int64_t run2 = db.add_run("2025-02-01T00:00:00Z", "incomplete");
  add_case(db, run2, {"long-context", "flash:causal", "decode", "ok", "", 512, 3e-5});
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

  // One time chart per suite plus the roofline (this run measured peaks); no
  // recall cases and one backend, so notes stand in for the heatmap, Pareto and
  // cross-backend views.
  CHECK(count(html, "<svg") == 3);
  CHECK(count(html, "</svg>") == 3);
  for (const char* id : {"id=\"time-chart-0-0\"", "id=\"time-chart-1-0\"", "id=\"roofline-0\""})
    CHECK(html.find(id) != std::string::npos);
  CHECK(html.find("No recall cases in this run") != std::string::npos);
  CHECK(html.find("No case ran successfully on more than one backend") != std::string::npos);
  CHECK(html.find("id=\"comparison\"") == std::string::npos);  // no baseline asked for
  // Both prefill lines are t = c * L^2, so both fit an exponent of exactly 2.
  CHECK(count(html, "\xE2\x88\x9D L^2.00</tspan>") == 2);
  CHECK(html.find("context length (len_k)") != std::string::npos);
  // One chart per (suite, phase): the phase is in the title, not in each series label.
  CHECK(html.find("long-context \xC2\xB7 prefill: median time per call") != std::string::npos);
  CHECK(html.find("<title>naive:causal \xC2\xB7 fp32 \xC2\xB7 cpu \xE2\x80\x94") != std::string::npos);
  CHECK(html.find(">1K</text>") != std::string::npos);

  // Provenance, peaks and the failed case in the status chips. (The suite tables' rows
  // are drawn in the page from the embedded JSON; the browser test reads them.)
  for (const char* s : {"0123456789abcdef", "GNU 12.2.0", "bench-host", "Debian 12",
                        "attnbench run --suite long-context,correctness --quick", "9.1.0",
                        "1.20 TFLOP/s", "90.0 GB/s", "chip st-failed", "unsupported"}) {
    INFO(s);
    CHECK(html.find(s) != std::string::npos);
  }
  // Each suite table names its cases by position in the JSON, together every case once.
  std::vector<size_t> listed = report_test::case_row_positions(html);
  std::sort(listed.begin(), listed.end());
  std::vector<size_t> every(kRun1Cases);
  std::iota(every.begin(), every.end(), size_t{0});
  CHECK(listed == every);
  CHECK(count(html, "<table class=\"results sortable\" data-case-rows=") == 2);

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
  CHECK(data["schema"] == "attnbench-report-data/3");
  CHECK(data["run"]["id"] == 1);
  CHECK(data["run"]["library_versions"]["fmt"] == "9.1.0");
  REQUIRE(data["cases"].size() == kRun1Cases);
  bool found_evil = false;
  // The page leaves out empty messages: value(), not operator[], which on a const json
  // with the key missing is undefined behaviour (it crashed here now and then).
  for (const auto& c : data["cases"]) found_evil |= c.value("message", std::string()) == kEvil;
  CHECK(found_evil);
  CHECK(data["metric_units"]["time_median"] == "s");
  CHECK(data["cases"][0]["metrics"]["time_median"].is_number());
  // What the table rows show, at the 7 digits the page keeps.
  bool found_row_values = false;
  for (const auto& c : data["cases"]) {
    const auto& m = c.at("metrics");
    if (m.contains("fraction_peak_flops") && m.contains("recall_accuracy") && m.contains("rel_error"))
      found_row_values = m.at("fraction_peak_flops") == 0.31 && m.at("recall_accuracy") == 0.975 &&
                         m.at("rel_error") == 2.5e-7;
  }
  CHECK(found_row_values);
  // What the page shows: the repetition count, not the raw samples (export has those).
  CHECK(data["cases"][0]["repetitions"] == 3);
  CHECK_FALSE(data["cases"][0].contains("samples"));
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
  if (!fs::exists("/usr/bin/chromium")) {
    WARN("chromium not installed; skipping the headless rendering check");
    return;
  }
  fs::path dir = fresh_dir("chromium");
  build_db(dir / "results.db");
  fs::path out = dir / "report.html";
  write_html_report((dir / "results.db").string(), int64_t{1}, out.string());
  fs::path png = dir / "report.png";
  std::string dom = report_test::chromium_dump_dom(out, png);
  // The page's scripts ran to the end and raised nothing.
  CHECK(dom.find("data-js-errors=\"0\"") != std::string::npos);
  CHECK(dom.find("data-ready=\"1\"") != std::string::npos);
  CHECK(dom.find("id=\"time-chart-0-0\"") != std::string::npos);
  REQUIRE(fs::exists(png));
  CHECK(fs::file_size(png) > 30000);  // a blank 1280x2000 PNG is only a few KB
}

// The report's analysis views end to end: a database with long-context cases on
// two backends, recall cases for several KV methods and budgets, and two runs,
// rendered with and without a baseline. Checks each chart's presence and
// values, the Pareto front, the fitted exponents, the comparison verdicts, the
// escaping of hostile database text in every new view, and the page in chromium.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "html_report.h"
#include "test_report_db.h"

namespace fs = std::filesystem;
using namespace report_test;
using attnbench::reports::HtmlReportOptions;
using attnbench::reports::write_html_report;

namespace {

const std::string kEvilConfig = "flash:causal,tag=<img src=x onerror=alert(1)>";
const std::string kEvilKv = "kv=evil:budget=64,x=<script>alert(2)</script>";
const std::string kEvilDevice = "H100 <b>\"80GB\"</b>";
const std::vector<int64_t> kLengths{512, 1024, 2048, 4096};
const std::vector<int64_t> kRecallLengths{1024, 2048, 4096};
const std::vector<double> kDepths{0.0, 0.5, 1.0};

/// Five repetitions around `median` with a deterministic +-1% wobble.
std::vector<double> reps(double median) {
  return {median * 0.99, median, median * 1.01, median * 0.995, median * 1.005};
}

/// One timed long-context case: t = c * L^k on `backend`.
void add_timed(TestDb& db, int64_t run, const std::string& backend, const std::string& device,
               const std::string& config, int64_t len, double c, double k) {
  TestDb::Row r;
  r.backend = backend;
  r.device = device;
  r.config = config;
  r.len_q = r.len_k = len;
  double l = static_cast<double>(len);
  double t = c * std::pow(l, k);
  r.flops = 4.0 * 8 * 64 * l * l;
  r.bytes = 4.0 * 3 * 8 * 64 * l;
  r.metrics = {{"time_median", t}, {"time_mad", 0.005 * t}, {"flops_per_second", *r.flops / t},
               {"rel_error", 2e-7}};
  r.samples = reps(t);
  db.add_row(run, r);
}

/// Recall accuracy of a KV config at (length, depth): full is perfect, snapkv
/// loses the middle of the longest context, streaming keeps only the end,
/// h2o and the hostile method are mostly lost.
double accuracy(const std::string& method, int64_t len, double depth) {
  if (method == "full") return 1.0;
  if (method == "snapkv") return len == 4096 && depth == 0.5 ? 0.5 : 1.0;
  if (method == "streaming") return depth == 1.0 ? 1.0 : 0.1;  // mean 0.4: below snapkv
  if (method == "h2o") return 0.3;
  return 0.1;
}

struct Kv {
  std::string config, method;
  double bytes_per_token;  // 0: budget-bound (fixed bytes)
  double fixed_bytes;
};

void add_recall(TestDb& db, int64_t run, const Kv& kv, int64_t len, double depth, double acc,
                const std::string& task = "needle") {
  TestDb::Row r;
  r.suite = "recall";
  r.phase = "recall";
  r.config = kv.config;
  r.len_q = 1;
  r.len_k = len;
  r.shape = fmt::format("task={},lk={},depth={:g}", task, len, depth);
  double bytes = kv.bytes_per_token > 0 ? kv.bytes_per_token * static_cast<double>(len) : kv.fixed_bytes;
  r.metrics = {{"recall_accuracy", acc},
               {"needle_depth", depth},
               {"kv_bytes", bytes},
               {"kv_bytes_full", 1024.0 * static_cast<double>(len)},
               {"compression_ratio", 1024.0 * static_cast<double>(len) / bytes},
               {"decode_time", 1e-4}};
  db.add_row(run, r);
}

/// Run 1 (baseline) and run 2 (candidate): flash on cpu 2x slower in run 2, the
/// hostile config 2x faster, cuda unchanged; snapkv loses one needle in run 2.
void build_db(const fs::path& path) {
  TestDb db(path);
  const std::vector<Kv> kvs{{"kv=full", "full", 1024, 0},
                            {"kv=snapkv:budget=256,window=32,pool=7", "snapkv", 0, 256 * 1024},
                            {"kv=streaming:budget=256,sink=4", "streaming", 0, 256 * 1024},
                            {"kv=h2o:budget=128", "h2o", 0, 128 * 1024},
                            {kEvilKv, "evil", 0, 64 * 1024}};
  for (int run_no = 1; run_no <= 2; ++run_no) {
    int64_t run = db.add_run(fmt::format("2025-0{}-01T00:00:00Z", run_no), "complete");
    db.add_peak(run, "flops_f32", 1.2e12, "FLOP/s");
    db.add_peak(run, "flops_f16", 2.4e12, "FLOP/s");
    db.add_peak(run, "bytes_per_second", 9.0e10, "B/s");
    db.add_peak(run, "flops_f32", 6.0e13, "FLOP/s", "cuda", kEvilDevice);
    db.add_peak(run, "bytes_per_second", 3.0e12, "B/s", "cuda", kEvilDevice);
    double flash_c = run_no == 1 ? 4e-9 : 8e-9;
    double evil_c = run_no == 1 ? 2.4e-8 : 1.2e-8;
    for (int64_t len : kLengths) {
      add_timed(db, run, "cpu", "host", "flash:causal", len, flash_c, 2.0);
      add_timed(db, run, "cpu", "host", kEvilConfig, len, evil_c, 2.0);
      add_timed(db, run, "cuda", kEvilDevice, "flash:causal", len, 1e-6, 1.0);
    }
    for (const Kv& kv : kvs)
      for (int64_t len : kRecallLengths)
        for (double depth : kDepths) {
          double acc = accuracy(kv.method, len, depth);
          if (run_no == 2 && kv.method == "snapkv" && len == 1024 && depth == 0.0) acc = 0.0;
          add_recall(db, run, kv, len, depth, acc);
        }
    // A second task in one snapkv cell: the cell shows the mean of its cases.
    add_recall(db, run, kvs[1], 2048, 0.0, 0.0, "kv_retrieval");
  }
}

std::string render(const fs::path& dir, const HtmlReportOptions& options) {
  fs::path out = dir / "report.html";
  write_html_report((dir / "results.db").string(), options, out.string());
  return slurp(out);
}

/// The <tr ...> of a table row whose text contains `needle`, up to its </tr>.
std::string row_with(const std::string& table, const std::string& needle) {
  size_t at = table.find(needle);
  if (at == std::string::npos) return {};
  size_t a = table.rfind("<tr", at), b = table.find("</tr>", at);
  return table.substr(a, b - a);
}

void check_escaped(const std::string& part, const std::string& what) {
  INFO(what);
  CHECK_FALSE(part.empty());
  CHECK(part.find("<script>alert") == std::string::npos);
  CHECK(part.find("<img") == std::string::npos);
  CHECK(part.find("<b>\"80GB") == std::string::npos);
}

}  // namespace

TEST_CASE("report shows scaling, roofline, heatmaps, Pareto and backends", "[report]") {
  fs::path dir = fresh_dir("report_analysis", "views");
  build_db(dir / "results.db");
  HtmlReportOptions opt;
  opt.run_id = 1;
  std::string html = render(dir, opt);

  // Scaling: cpu lines are t = c L^2, the cuda line t = c L.
  std::string time_chart = element(html, "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"time-chart-0-0\"", "</svg>");
  REQUIRE_FALSE(time_chart.empty());
  CHECK(count(time_chart, "\xE2\x88\x9D L^2.00</tspan>") == 2);
  CHECK(count(time_chart, "\xE2\x88\x9D L^1.00</tspan>") == 1);
  check_escaped(time_chart, "time chart");
  CHECK(time_chart.find("tag=&lt;img src=x onerror=alert(1)&gt;") != std::string::npos);

  // Roofline: one per backend, with the roofs this run measured.
  std::string roof_cpu = element(html, "id=\"roofline-0\"", "</svg>");
  std::string roof_cuda = element(html, "id=\"roofline-1\"", "</svg>");
  REQUIRE_FALSE(roof_cpu.empty());
  REQUIRE_FALSE(roof_cuda.empty());
  for (const char* cls : {"guide roof-bandwidth", "guide roof-f32", "guide roof-f16"})
    CHECK(roof_cpu.find(cls) != std::string::npos);
  CHECK(roof_cuda.find("guide roof-f16") == std::string::npos);  // not measured there
  CHECK(roof_cpu.find("fp32 peak 1.20 TFLOP/s") != std::string::npos);
  CHECK(roof_cpu.find("memory 90.0 GB/s") != std::string::npos);
  CHECK(count(roof_cpu, "<g class=\"pt\">") == 8);  // 2 configs x 4 lengths
  check_escaped(roof_cpu, "roofline cpu");
  check_escaped(roof_cuda, "roofline cuda");
  CHECK(roof_cuda.find("H100 &lt;b&gt;&quot;80GB&quot;&lt;/b&gt;") != std::string::npos);

  // Needle heatmaps: one per KV config, cells hold the mean accuracy.
  std::string recall = element(html, "<section id=\"recall\"", "</section>");
  CHECK(count(recall, "class=\"chart heatmap\"") == 5);
  std::string snap;
  for (int i = 0; i < 5; ++i) {
    std::string m = element(recall, fmt::format("id=\"heatmap-{}\"", i), "</svg>");
    if (m.find("kv=snapkv:budget=256") != std::string::npos) snap = m;
    check_escaped(m, "heatmap");
  }
  REQUIRE_FALSE(snap.empty());
  CHECK(count(snap, "class=\"cell\"") == 9);
  CHECK(snap.find("data-len=\"4096\" data-depth=\"0.5\" data-value=\"0.500\"") != std::string::npos);
  CHECK(snap.find("data-len=\"1024\" data-depth=\"0\" data-value=\"1.000\"") != std::string::npos);
  CHECK(snap.find("data-len=\"2048\" data-depth=\"0\" data-value=\"0.500\"") != std::string::npos);
  CHECK(recall.find("kv=evil:budget=64,x=&lt;script&gt;alert(2)&lt;/script&gt;") != std::string::npos);

  // Pareto: streaming has snapkv's bytes and less accuracy, so it is dominated.
  std::string pareto = element(recall, "id=\"pareto-chart\"", "</svg>");
  REQUIRE_FALSE(pareto.empty());
  std::string front = element(pareto, "<g class=\"series pareto-front\">", "</g></g>");
  CHECK(front.find("kv=streaming") == std::string::npos);
  for (const char* on : {"kv=full", "kv=snapkv", "kv=h2o", "kv=evil"}) {
    INFO(on);
    CHECK(front.find(on) != std::string::npos);
  }
  std::string table = element(recall, "<table class=\"pareto", "</table>");
  CHECK(row_with(table, "kv=streaming").find("data-front=\"0\"") != std::string::npos);
  CHECK(row_with(table, "kv=snapkv").find("data-front=\"1\"") != std::string::npos);
  CHECK(row_with(table, "kv=h2o").find("data-front=\"1\"") != std::string::npos);
  check_escaped(pareto, "pareto chart");
  check_escaped(table, "pareto table");

  // Across backends: the same flash case on cpu and cuda, cuda / cpu ratio.
  std::string backends = element(html, "<section id=\"backends\"", "</section>");
  std::string flash_row = row_with(backends, ">flash:causal<");
  REQUIRE_FALSE(flash_row.empty());
  CHECK(count(backends, "<tr><td>") == 4);  // one row per length; the evil config ran on cpu only
  CHECK(flash_row.find("\xC3\x97</td>") != std::string::npos);
  check_escaped(backends, "backend table");

  CHECK(html.find("id=\"comparison\"") == std::string::npos);
  check_escaped(html, "whole page");
}

TEST_CASE("report compares against a baseline run", "[report]") {
  fs::path dir = fresh_dir("report_analysis", "compare");
  build_db(dir / "results.db");
  HtmlReportOptions opt;
  opt.run_id = 2;
  opt.baseline_run_id = 1;
  std::string html = render(dir, opt);
  std::string cmp = element(html, "<section id=\"comparison\"", "</section>");
  REQUIRE_FALSE(cmp.empty());
  CHECK(cmp.find("Comparison with baseline run 1") != std::string::npos);

  std::string flash = row_with(cmp, "cpu/flash:causal/b=1,hq=8,hkv=2,lq=1024,lk=1024,d=64");
  CHECK(flash.find("class=\"v-slower\"") != std::string::npos);
  CHECK(flash.find("data-ratio=\"2.0000\"") != std::string::npos);
  std::string evil = row_with(cmp, "tag=&lt;img src=x onerror=alert(1)&gt;/b=1,hq=8,hkv=2,lq=2048");
  CHECK(evil.find("class=\"v-faster\"") != std::string::npos);
  std::string cuda = row_with(cmp, "cuda/flash:causal/b=1,hq=8,hkv=2,lq=512,");
  CHECK(cuda.find("class=\"v-same\"") != std::string::npos);
  CHECK(count(cmp, "<tr class=\"v-slower\"") == 4);
  CHECK(count(cmp, "<tr class=\"v-faster\"") == 4);

  // The lost needle shows up as a quality regression on that recall case.
  std::string lost = row_with(cmp, "kv=snapkv:budget=256,window=32,pool=7/task=needle,lk=1024,depth=0\"");
  CHECK(lost.find("class=\"q-worse\"") != std::string::npos);
  CHECK(lost.find("1.000 \xE2\x86\x92 0.000") != std::string::npos);
  check_escaped(cmp, "comparison");

  // Same inputs, same page: the bootstrap is seeded.
  CHECK(render(dir, opt) == html);

  // A missing baseline is an error, and leaves the old page.
  opt.baseline_run_id = 77;
  CHECK_THROWS_WITH(render(dir, opt), Catch::Contains("run 77 not found"));
}

TEST_CASE("analysis report renders in headless chromium", "[report][chromium]") {
  if (!fs::exists("/usr/bin/chromium")) {
    WARN("chromium not installed; skipping the headless rendering check");
    return;
  }
  fs::path dir = fresh_dir("report_analysis", "chromium");
  build_db(dir / "results.db");
  HtmlReportOptions opt;
  opt.baseline_run_id = 1;  // the newest run (2) against run 1: every view on one page
  render(dir, opt);
  fs::path png = dir / "report.png";
  std::string dom = chromium_dump_dom(dir / "report.html", png, 1280, 1600);
  REQUIRE_FALSE(dom.empty());
  CHECK(dom.find("data-js-errors=\"0\"") != std::string::npos);
  CHECK(dom.find("data-ready=\"1\"") != std::string::npos);
  for (const char* id : {"id=\"comparison\"", "id=\"time-chart-0-0\"", "id=\"suite-1\"",
                         "id=\"roofline-0\"", "id=\"roofline-1\"", "id=\"heatmap-0\"",
                         "id=\"heatmap-4\"", "id=\"pareto-chart\"", "class=\"backends sortable\""}) {
    INFO(id);
    CHECK(dom.find(id) != std::string::npos);
  }
  CHECK(dom.find("<script>alert") == std::string::npos);
  REQUIRE(fs::exists(png));
  CHECK(fs::file_size(png) > 30000);
}

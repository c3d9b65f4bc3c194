// The report's analysis building blocks in isolation: the scaling fit, the
// Pareto front, the bootstrap ratio interval and verdicts, linear ticks, and the
// heatmap / guide / legend-note rendering (values and escaping).
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "needle_heatmap.h"
#include "pareto_chart.h"
#include "report_data.h"
#include "roofline_chart.h"
#include "run_comparison.h"
#include "scaling_fit.h"
#include "suite_chart.h"
#include "svg_chart.h"

using namespace attnbench::reports;

TEST_CASE("scaling exponent of t = c * L^k is k", "[report]") {
  std::vector<ChartPoint> quad, lin;
  for (double l : {512.0, 1024.0, 2048.0, 4096.0, 8192.0}) {
    quad.push_back({l, 3.7e-11 * l * l, ""});
    lin.push_back({l, 2e-7 * l, ""});
  }
  REQUIRE(loglog_slope(quad));
  CHECK(*loglog_slope(quad) == Approx(2.0).margin(1e-9));
  CHECK(fmt::format("{:.2f}", *loglog_slope(quad)) == "2.00");
  CHECK(*loglog_slope(lin) == Approx(1.0).margin(1e-9));
  // One length (or only unusable points) has no slope.
  CHECK_FALSE(loglog_slope({{1024, 1e-3, ""}, {1024, 2e-3, ""}}));
  CHECK_FALSE(loglog_slope({{1024, 1e-3, ""}, {-5, 2e-3, ""}}));
}

TEST_CASE("Pareto front keeps only non-dominated points", "[report]") {
  //                          0     1     2     3     4     5
  std::vector<double> cost{100, 200, 200, 50, 400, 50};
  std::vector<double> gain{0.5, 0.9, 0.7, 0.1, 0.9, 0.1};
  auto front = pareto_front(cost, gain);
  // 2 is beaten by 1 (same cost, more gain); 4 by 1 (less cost, same gain);
  // 3 and 5 are exact duplicates and both stay.
  CHECK(front == std::vector<size_t>{3, 5, 0, 1});
  CHECK(pareto_front({}, {}).empty());
}

TEST_CASE("bootstrap ratio interval is deterministic and brackets the ratio", "[report]") {
  std::vector<double> base, slow, same;
  for (int i = 0; i < 9; ++i) {
    double noise = 1 + 0.01 * ((i * 7) % 5 - 2);
    base.push_back(1e-3 * noise);
    slow.push_back(2e-3 * noise);
    same.push_back(1e-3 * (1 + 0.01 * ((i * 3) % 5 - 2)));
  }
  auto a = bootstrap_median_ratio(base, slow);
  auto b = bootstrap_median_ratio(base, slow);
  REQUIRE(a);
  REQUIRE(a->has_interval);
  CHECK(a->ratio == Approx(2.0));
  CHECK(a->lo > 1.9);
  CHECK(a->hi < 2.1);
  CHECK(a->lo <= a->ratio);
  CHECK(a->ratio <= a->hi);
  CHECK(a->lo == b->lo);  // fixed seed: same page every time
  CHECK(a->hi == b->hi);
  auto s = bootstrap_median_ratio(base, same);
  CHECK(s->lo < 1.0);
  CHECK(s->hi > 1.0);
  auto one = bootstrap_median_ratio({1e-3}, {1.5e-3});
  REQUIRE(one);
  CHECK_FALSE(one->has_interval);
  CHECK(one->ratio == Approx(1.5));
  CHECK_FALSE(bootstrap_median_ratio({}, {1.0}));
}

namespace {

CaseResult timed(const std::string& key, std::vector<double> seconds, double accuracy) {
  CaseResult c;
  c.case_key = key;
  c.config = key;
  c.status = "ok";
  for (size_t i = 0; i < seconds.size(); ++i)
    c.samples.push_back({static_cast<int64_t>(i), 10, seconds[i]});
  c.metrics.push_back({"recall_accuracy", accuracy, "ratio"});
  return c;
}

}  // namespace

TEST_CASE("run comparison gives verdicts and quality deltas per case key", "[report]") {
  RunData base, cand;
  base.run.id = 1;
  cand.run.id = 2;
  std::vector<double> t{1.00e-3, 1.01e-3, 0.99e-3, 1.02e-3, 0.98e-3};
  auto scaled = [&](double f) {
    std::vector<double> v;
    for (double x : t) v.push_back(x * f);
    return v;
  };
  base.cases = {timed("a", t, 0.9), timed("b", t, 0.9), timed("c", t, 0.9), timed("gone", t, 1)};
  cand.cases = {timed("a", scaled(1.5), 0.9), timed("b", scaled(0.5), 0.95),
                timed("c", scaled(1.02), 0.5), timed("new", t, 1)};
  RunComparison cmp = compare_runs(base, cand, 0.05);
  REQUIRE(cmp.cases.size() == 3);
  CHECK(cmp.cases[0].verdict == Verdict::slower);
  CHECK(cmp.cases[1].verdict == Verdict::faster);
  CHECK(cmp.cases[2].verdict == Verdict::same);  // 2% is under the 5% threshold
  CHECK(cmp.cases[1].quality[0].better);
  CHECK(cmp.cases[2].quality[0].worse);
  REQUIRE(cmp.only_base.size() == 1);
  CHECK(cmp.only_base[0]->case_key == "gone");
  REQUIRE(cmp.only_cand.size() == 1);
  CHECK(cmp.only_cand[0]->case_key == "new");
}

TEST_CASE("linear ticks step by 1-2-5", "[report]") {
  auto t = linear_ticks(0, 1.05, 8);
  REQUIRE(t.size() == 6);
  CHECK(t.front() == 0);
  CHECK(t.back() == Approx(1.0));
  CHECK(linear_ticks(1, 1).empty());
}

TEST_CASE("heatmap cells carry their values and text is escaped", "[report]") {
  NeedleHeatmap m;
  m.config = "kv=x:<b>\"&";
  m.lengths = {1024, 2048};
  m.depths = {0, 0.5};
  m.value = {{1.0, std::nullopt}, {0.25, 0.5}};
  m.count = {{1, 0}, {2, 1}};
  std::string svg = render_needle_heatmap(m, "hm<1>");
  CHECK(svg.find("id=\"hm&lt;1&gt;\"") != std::string::npos);
  CHECK(svg.find("kv=x:&lt;b&gt;&quot;&amp;") != std::string::npos);
  CHECK(svg.find("<b>") == std::string::npos);
  CHECK(svg.find("data-len=\"1024\" data-depth=\"0.5\" data-value=\"0.250\"") != std::string::npos);
  CHECK(svg.find("data-len=\"1024\" data-depth=\"0\" data-value=\"1.000\"") != std::string::npos);
  CHECK(svg.find("class=\"cell empty\"") != std::string::npos);
  CHECK(svg.find("(2 cases)") != std::string::npos);
}

TEST_CASE("guides, scatter series and legend notes render escaped", "[report]") {
  LogLogChart chart;
  chart.id = "c<1>";
  chart.title = "roof";
  chart.series.push_back({"s<i>", {{1, 1, ""}, {10, 10, ""}}, false, "\xE2\x88\x9D L^<2>", "cls<x>"});
  chart.guides.push_back({"peak <p>", {{0.1, 100, ""}, {100, 100, ""}}, "roof-f32"});
  std::string svg = render_loglog_chart(chart);
  CHECK(svg.find("id=\"c&lt;1&gt;\"") != std::string::npos);
  CHECK(svg.find("class=\"guide roof-f32\"") != std::string::npos);
  CHECK(svg.find("peak &lt;p&gt;") != std::string::npos);
  CHECK(svg.find("L^&lt;2&gt;</tspan>") != std::string::npos);
  CHECK(svg.find("class=\"series cls&lt;x&gt;\"") != std::string::npos);
  CHECK(svg.find("<polyline fill=\"none\" stroke=\"#4e79a7\"") == std::string::npos);  // scatter
  CHECK(svg.find("<i>") == std::string::npos);
  CHECK(svg.find("<p>") == std::string::npos);
}

TEST_CASE("roofline plots the work a sparse variant did, not its dense-equivalent FLOPs", "[report]") {
  // Two cases with the same dense FLOP model and time: the exact one at 50% of the
  // peak, the sparse one attending to a quarter of the pairs.
  RunData data;
  data.peaks = {{"cpu", "host", "flops_f32", 100e9, "FLOP/s"}, {"cpu", "host", "bytes_per_second", 10e9, "B/s"}};
  for (const char* config : {"flash:causal", "sliding_window:causal,window=32:0"}) {
    CaseResult c;
    c.backend = "cpu", c.device = "host", c.status = "ok", c.config = config, c.dtype = "fp32";
    c.flops = 50e9, c.bytes = 1e9;
    c.metrics.push_back({"flops_per_second", 50e9, "FLOP/s"});
    if (std::string(config).rfind("sliding", 0) == 0) c.metrics.push_back({"attended_fraction", 0.25, "ratio"});
    data.cases.push_back(c);
  }
  const auto charts = roofline_charts(data);
  REQUIRE(charts.size() == 1);
  REQUIRE(charts[0].series.size() == 2);
  for (const ChartSeries& s : charts[0].series) {
    REQUIRE(s.points.size() == 1);
    const bool sparse = s.label.rfind("sliding", 0) == 0;
    INFO(s.label);
    CHECK(s.points[0].y == Approx(sparse ? 12.5e9 : 50e9));
    CHECK(s.points[0].x == Approx(sparse ? 12.5 : 50.0));
  }
}

TEST_CASE("a suite chart draws one point per context length: the median of the cases there", "[report]") {
  // Recall cases differ in depth, which the time axis does not show: three at 1K, one at 2K.
  std::vector<CaseResult> cases;
  for (const auto& [len, depth, ms] : std::vector<std::tuple<int, double, double>>{
           {1024, 0.25, 3.0}, {1024, 0.5, 1.0}, {1024, 0.75, 2.0}, {2048, 0.5, 4.0}}) {
    CaseResult c;
    c.status = "ok", c.phase = "recall", c.config = "flash:causal", c.dtype = "fp32", c.backend = "cpu";
    c.len_k = len;
    c.shape = fmt::format("task=single_needle,lk={},depth={}", len, depth);
    c.metrics = {{"time_median", ms * 1e-3, "s"}};
    cases.push_back(c);
  }
  std::vector<const CaseResult*> ptrs;
  for (const CaseResult& c : cases) ptrs.push_back(&c);
  const LogLogChart chart = suite_time_chart("recall", "recall", ptrs);
  REQUIRE(chart.series.size() == 1);
  const auto& pts = chart.series[0].points;
  REQUIRE(pts.size() == 2);
  CHECK(pts[0].x == 1024);
  CHECK(pts[0].y == Approx(2e-3));
  CHECK(pts[0].note.find("median of 3 cases") != std::string::npos);
  CHECK(pts[1].y == Approx(4e-3));
  CHECK(pts[1].note == "task=single_needle,lk=2048,depth=0.5");  // a lone case keeps its shape
}

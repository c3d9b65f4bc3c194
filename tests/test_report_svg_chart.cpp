// The report's building blocks: escaping, unit formatting and the log-log chart.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "format_units.h"
#include "html_escape.h"
#include "svg_chart.h"

using namespace attnbench::reports;

TEST_CASE("html_escape neutralises markup and quotes", "[report]") {
  CHECK(html_escape("<a href=\"x\">'&'</a>") ==
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  CHECK(html_escape("plain \xC2\xB5s") == "plain \xC2\xB5s");
}

TEST_CASE("units read naturally", "[report]") {
  CHECK(format_seconds(1.25e-3) == "1.25 ms");
  CHECK(format_seconds(812e-9) == "812 ns");
  CHECK(format_seconds(0.9999e-3) == "1.00 ms");
  CHECK(format_seconds(3.4) == "3.40 s");
  CHECK(format_seconds(5e-3, true) == "5 ms");
  CHECK(format_seconds(2.5e-4, true) == "250 \xC2\xB5s");
  CHECK(format_si(1.2e12, "FLOP/s") == "1.20 TFLOP/s");
  CHECK(format_si(9e10, "B/s") == "90.0 GB/s");
  CHECK(format_percent(0.4312) == "43.1%");
  CHECK(format_scientific(3.1e-7) == "3.10e-07");
  CHECK(format_length(4096) == "4K");
  CHECK(format_length(131072) == "128K");
  CHECK(format_length(1000) == "1000");
  CHECK(format_length(20000) == "20k");
  CHECK(format_metric(2048, "B") == "2.05 kB");
  CHECK(format_metric(0.975, "ratio") == "0.975");
  CHECK(format_metric(std::nan(""), "s") == "NaN");
}

TEST_CASE("log ticks pick a readable density", "[report]") {
  auto decades = log_ticks(1, 1000);
  REQUIRE(decades.size() == 4);
  CHECK(decades[3] == Approx(1000));
  auto one_decade = log_ticks(1, 10);  // 1..9 would be 10 ticks: too many
  REQUIRE(one_decade.size() == 4);
  CHECK(one_decade[1] == Approx(2));
  CHECK(one_decade[2] == Approx(5));
  auto narrow = log_ticks(1.5e-4, 9e-4);
  REQUIRE(narrow.size() >= 2);
  for (double t : narrow) CHECK((t >= 1.5e-4 * (1 - 1e-9) && t <= 9e-4 * (1 + 1e-9)));
  auto wide = log_ticks(1e-9, 1e9);
  CHECK(wide.size() <= 8);
  CHECK(log_ticks(-1, 10).empty());
}

TEST_CASE("chart escapes labels and draws one line per series", "[report]") {
  LogLogChart chart;
  chart.title = "t <b>&";
  chart.x = {"len", [](double v) { return format_length(v); }, {}};
  chart.y = {"time", [](double v) { return format_seconds(v); }, {}};
  chart.series.push_back({"a<script>", {{512, 1e-3, ""}, {1024, 4e-3, ""}, {2048, 1.6e-2, "n\"q"}}});
  chart.series.push_back({"b", {{512, 2e-3, ""}, {1024, -1, ""}, {2048, 3e-2, ""}}});
  std::string svg = render_loglog_chart(chart);
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.find("<script") == std::string::npos);
  CHECK(svg.find("a&lt;script&gt;") != std::string::npos);
  CHECK(svg.find("t &lt;b&gt;&amp;") != std::string::npos);
  CHECK(svg.find("n&quot;q") != std::string::npos);
  size_t lines = 0;
  for (size_t at = svg.find("<polyline"); at != std::string::npos; at = svg.find("<polyline", at + 1))
    ++lines;
  CHECK(lines == 2);  // the negative point is dropped, the rest of "b" still draws

  LogLogChart empty;
  empty.title = "nothing";
  empty.empty_message = "no data <here>";
  std::string e = render_loglog_chart(empty);
  CHECK(e.find("no data &lt;here&gt;") != std::string::npos);
  CHECK(e.find("</svg>") != std::string::npos);
}

TEST_CASE("the shared format cases read as the page script prints them", "[report]") {
  // The browser test checks the page script's formatters against the same file.
  std::ifstream in(std::string(ATTNBENCH_SOURCE_DIR) + "/tests/browser/format_cases.json");
  REQUIRE(in);
  const nlohmann::json cases = nlohmann::json::parse(in).at("cases");
  REQUIRE(cases.size() > 20);
  for (const auto& c : cases) {
    const std::string format = c.at("format"), unit = c.value("unit", "");
    const double v = c.at("value");
    INFO(format << " " << v << " " << unit);
    std::string got = format == "seconds"      ? format_seconds(v)
                      : format == "si"         ? format_si(v, unit)
                      : format == "percent"    ? format_percent(v)
                      : format == "scientific" ? format_scientific(v)
                                               : format_metric(v, unit);
    CHECK(got == c.at("text").get<std::string>());
  }
}

#include "suite_chart.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "case_stats.h"
#include "format_units.h"
#include "scaling_fit.h"
#include "series_colors.h"

namespace attnbench::reports {

namespace {

struct Plotted {
  const CaseResult* c;
  double seconds;
};

using BaseKey = std::tuple<std::string, std::string, std::string>;  // config, dtype, backend

/// One point per context length: cases of one series that differ only in what the
/// x axis does not show (a recall task's depths, say) would otherwise stack up at one x
/// and draw the line up and down through them. The point is their median, its note says
/// how many cases and their range.
void merge_same_length(std::vector<ChartPoint>& points) {
  std::map<double, std::vector<ChartPoint>> by_x;
  for (ChartPoint& p : points) by_x[p.x].push_back(std::move(p));
  points.clear();
  for (auto& [x, group] : by_x) {
    if (group.size() == 1) {
      points.push_back(std::move(group.front()));
      continue;
    }
    std::vector<double> ys;
    for (const ChartPoint& p : group) ys.push_back(p.y);
    std::sort(ys.begin(), ys.end());
    const size_t n = ys.size();
    const double median = n % 2 ? ys[n / 2] : 0.5 * (ys[n / 2 - 1] + ys[n / 2]);
    points.push_back({x, median, fmt::format("median of {} cases ({} to {})", n, format_seconds(ys.front()),
                                             format_seconds(ys.back()))});
  }
}

std::optional<double> plottable_seconds(const CaseResult& c) {
  if (c.status != "ok" || !c.len_k || *c.len_k <= 0) return std::nullopt;
  auto s = median_seconds(c);
  return s && *s > 0 ? s : std::nullopt;
}

}  // namespace

std::vector<std::string> plotted_phases(const std::vector<const CaseResult*>& cases) {
  std::vector<std::string> phases;
  for (const CaseResult* c : cases)
    if (plottable_seconds(*c) && std::find(phases.begin(), phases.end(), c->phase) == phases.end())
      phases.push_back(c->phase);
  return phases;
}

LogLogChart suite_time_chart(const std::string& suite, const std::string& phase,
                             const std::vector<const CaseResult*>& cases) {
  LogLogChart chart;
  chart.title = fmt::format("{} \xC2\xB7 {}: median time per call vs context length", suite, phase);
  chart.x = {"context length (len_k)", [](double v) { return format_length(v); }, {}};
  chart.y = {"median time per call", [](double v) { return format_seconds(v, /*compact=*/true); }, {}};
  chart.empty_message = "no successful timed cases with a context length to plot";
  chart.css_class = "time-vs-length";

  std::vector<Plotted> plotted;
  for (const CaseResult* c : cases)
    if (c->phase == phase)
      if (auto s = plottable_seconds(*c)) plotted.push_back({c, *s});

  // Decide which of device / rest-of-shape must split a base series.
  std::map<std::string, std::set<std::string>> devices_of_backend;
  std::map<BaseKey, std::set<std::string>> shapes_of_base;
  for (const Plotted& p : plotted) {
    devices_of_backend[p.c->backend].insert(p.c->device);
    shapes_of_base[{p.c->config, p.c->dtype, p.c->backend}].insert(
        shape_without_length(*p.c));
  }

  // std::map keeps series in a stable, readable order (by config first).
  std::map<std::vector<std::string>, ChartSeries> series;
  std::set<int64_t> lengths;
  for (const Plotted& p : plotted) {
    const CaseResult& c = *p.c;
    BaseKey base{c.config, c.dtype, c.backend};
    std::string backend = c.backend;
    if (devices_of_backend[c.backend].size() > 1) backend += "@" + c.device;
    std::string label = fmt::format("{} \xC2\xB7 {} \xC2\xB7 {}", c.config, c.dtype, backend);
    std::string rest = shape_without_length(c);
    if (shapes_of_base[base].size() > 1) label += " \xC2\xB7 " + rest;
    auto& s = series[{c.config, c.dtype, c.backend, c.device, rest}];
    s.label = std::move(label);
    // Keyed by the config, so e.g. flash:causal has one colour on every chart of the page.
    style_series(s, c.config);
    s.points.push_back({static_cast<double>(*c.len_k), p.seconds, c.shape});
    lengths.insert(*c.len_k);
  }
  for (auto& [key, s] : series) {
    merge_same_length(s.points);
    // The fitted exponent is what a reader compares across kernels (1 = linear, 2 = quadratic).
    if (auto k = loglog_slope(s.points)) s.legend_note = fmt::format("\xE2\x88\x9D L^{:.2f}", *k);
    chart.series.push_back(std::move(s));
  }

  // A sweep's own lengths (512, 1K, 2K, ...) make better ticks than decades.
  if (lengths.size() >= 2 && lengths.size() <= 12)
    for (int64_t l : lengths) chart.x.ticks.push_back(static_cast<double>(l));
  return chart;
}

}  // namespace attnbench::reports

#include "roofline_chart.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "case_stats.h"
#include "format_units.h"
#include "series_colors.h"

namespace attnbench::reports {

namespace {

struct Peaks {
  std::optional<double> f32, f16, bw;
};

/// Achieved FLOP/s: the stored metric, else recomputed from the model count.
std::optional<double> achieved(const CaseResult& c) {
  if (auto v = c.metric_value("flops_per_second"); v && *v > 0) return v;
  auto t = median_seconds(c);
  if (c.flops && t && *t > 0) return *c.flops / *t;
  return std::nullopt;
}

std::string flops_axis(double v) { return format_si(v, "FLOP/s"); }

}  // namespace

std::vector<LogLogChart> roofline_charts(const RunData& data) {
  std::map<std::pair<std::string, std::string>, Peaks> peaks;
  for (const MachinePeak& p : data.peaks) {
    if (!(p.value > 0) || !std::isfinite(p.value)) continue;
    Peaks& pk = peaks[{p.backend, p.device}];
    if (p.name == "flops_f32") pk.f32 = p.value;
    if (p.name == "flops_f16") pk.f16 = p.value;
    if (p.name == "bytes_per_second") pk.bw = p.value;
  }

  std::vector<LogLogChart> charts;
  for (const auto& [key, pk] : peaks) {
    if (!pk.f32 && !pk.bw) continue;
    const auto& [backend, device] = key;
    std::map<std::string, ChartSeries> by_config;  // ordered: stable legend
    double imin = INFINITY, imax = -INFINITY;
    for (const CaseResult& c : data.cases) {
      if (c.backend != backend || c.device != device || c.status != "ok") continue;
      if (!c.flops || !c.bytes || !(*c.flops > 0) || !(*c.bytes > 0)) continue;
      auto fps = achieved(c);
      if (!fps) continue;
      // The work the kernel did, not the dense-equivalent count, so that a sparse variant
      // sits under the roof rather than above it.
      const double work = attended_work_factor(c);
      *fps *= work;
      double intensity = *c.flops * work / *c.bytes;
      ChartSeries& s = by_config[c.config];
      s.label = c.config;
      style_series(s, c.config);  // the config's colour and shape everywhere on the page
      s.connect = false;
      s.points.push_back({intensity, *fps, fmt::format("{} {}", c.dtype, c.shape)});
      imin = std::min(imin, intensity), imax = std::max(imax, intensity);
    }
    if (by_config.empty()) continue;

    LogLogChart chart;
    chart.title = fmt::format("Roofline: {} ({})", backend, device);
    chart.css_class = "roofline";
    chart.x = {"arithmetic intensity (FLOP/byte)", nullptr, {}};
    chart.y = {"achieved FLOP/s", flops_axis, {}};
    for (auto& [cfg, s] : by_config) chart.series.push_back(std::move(s));

    // Roofs span the points and every ridge point, with a little room each side.
    std::vector<double> ridges;
    if (pk.bw && pk.f32) ridges.push_back(*pk.f32 / *pk.bw);
    if (pk.bw && pk.f16) ridges.push_back(*pk.f16 / *pk.bw);
    double lo = imin, hi = imax;
    for (double r : ridges) lo = std::min(lo, r), hi = std::max(hi, r);
    lo /= 3, hi *= 3;
    double top = pk.f16 ? std::max(*pk.f16, pk.f32.value_or(0)) : pk.f32.value_or(0);
    if (pk.bw) {
      // The slope stops where the highest compute roof starts.
      double end = top > 0 ? top / *pk.bw : hi;
      chart.guides.push_back({fmt::format("memory {}", format_si(*pk.bw, "B/s")),
                              {{lo, *pk.bw * lo, ""}, {end, *pk.bw * end, ""}},
                              "roof-bandwidth", "#52606d", /*label_at_start=*/true});
    }
    auto flat = [&](double peak, const char* name, const char* cls, const char* color) {
      double start = pk.bw ? peak / *pk.bw : lo;
      chart.guides.push_back({fmt::format("{} peak {}", name, format_si(peak, "FLOP/s")),
                              {{start, peak, ""}, {hi, peak, ""}}, cls, color});
    };
    if (pk.f32) flat(*pk.f32, "fp32", "roof-f32", "#b42318");
    if (pk.f16) flat(*pk.f16, "fp16", "roof-f16", "#7a5195");
    charts.push_back(std::move(chart));
  }
  return charts;
}

}  // namespace attnbench::reports

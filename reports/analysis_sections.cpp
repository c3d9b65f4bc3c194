#include "analysis_sections.h"

#include <fmt/format.h>

#include "backend_table.h"
#include "calibration_section.h"
#include "needle_heatmap.h"
#include "pareto_chart.h"
#include "recall_query_agnostic.h"
#include "roofline_chart.h"
#include "svg_chart.h"

namespace attnbench::reports {

namespace {

std::string note(const char* text) { return fmt::format("<p class=\"none note\">{}</p>", text); }

}  // namespace

std::string render_roofline_section(const RunData& data) {
  std::string out =
      "<section id=\"roofline\"><h2>Roofline</h2><p class=\"note\">Achieved FLOP/s against "
      "arithmetic intensity (model FLOPs / model bytes per call), under the roofs this run "
      "measured on this machine. Sparse and approximate variants plot the work they did: "
      "their dense-equivalent FLOPs times the attended fraction of query-key pairs.</p>";
  auto charts = roofline_charts(data);
  if (charts.empty())
    return out + note("No roofline: this run has no measured machine peaks or no successful case "
                      "with FLOP and byte counts on a backend with peaks.") +
           "</section>";
  for (size_t i = 0; i < charts.size(); ++i) {
    charts[i].id = fmt::format("roofline-{}", i);
    out += "<figure class=\"chart\">" + render_loglog_chart(charts[i]) + "</figure>";
  }
  return out + "</section>";
}

std::string render_recall_section(const RunData& data) {
  std::string out = "<section id=\"recall\"><h2>KV-cache recall</h2>";
  auto maps = needle_heatmaps(data);
  auto points = kv_pareto_points(data);
  if (maps.empty() && points.empty())
    return out + note("No recall cases in this run (KV-method configs \"kv=...\" with "
                      "recall_accuracy), so there is no needle heatmap or Pareto front.") +
           "</section>" + render_calibration_section(data);
  out += "<h3>Needle heatmaps</h3>";
  if (maps.empty()) {
    out += note("No recall case recorded a needle depth, so there is no heatmap.");
  } else {
    out += "<div class=\"heatmaps\">";
    for (size_t i = 0; i < maps.size(); ++i)
      out += "<figure class=\"chart heat\">" +
             render_needle_heatmap(maps[i], fmt::format("heatmap-{}", i)) + "</figure>";
    out += "</div>";
  }
  out += "<h3>Accuracy vs KV-cache bytes</h3>";
  if (points.empty()) {
    out += note("No recall case recorded both kv_bytes and recall_accuracy.");
  } else {
    LogLogChart chart = pareto_chart(points);
    chart.id = "pareto-chart";
    out += "<p class=\"note\">One point per KV configuration (method and budget), averaged over "
           "its recall cases. The front joins the configurations no other one beats on both "
           "memory and accuracy.</p>";
    out += "<figure class=\"chart\">" + render_loglog_chart(chart) + "</figure>";
    out += render_pareto_table(points);
  }
  out += render_query_agnostic_table(data);
  // Calibration follows the recall section: the same cases measured it.
  return out + "</section>" + render_calibration_section(data);
}

std::string render_backend_section(const RunData& data) {
  std::string out = "<section id=\"backends\"><h2>Across backends</h2>";
  std::string table = render_backend_table(data);
  if (table.empty())
    return out + note("No case ran successfully on more than one backend in this run.") +
           "</section>";
  return out +
         "<p class=\"note\">The same case (suite, config, shape, dtype, phase) on each backend; "
         "the fastest is bold. Ratios are against the first backend column.</p>" +
         table + "</section>";
}

}  // namespace attnbench::reports

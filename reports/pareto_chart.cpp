#include "pareto_chart.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "format_units.h"
#include "html_escape.h"
#include "series_colors.h"

namespace attnbench::reports {

std::vector<size_t> pareto_front(const std::vector<double>& cost, const std::vector<double>& gain) {
  // Sort by cost, best gain first within a cost; a point is on the front when its
  // gain is at least the best gain of every cheaper-or-equal point seen so far.
  std::vector<size_t> order(std::min(cost.size(), gain.size()));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::tie(cost[a], gain[b]) < std::tie(cost[b], gain[a]);
  });
  std::vector<size_t> front;
  double best = -INFINITY, best_cost = NAN;
  for (size_t i : order) {
    bool tie_with_last = !front.empty() && cost[i] == best_cost && gain[i] == best;
    if (gain[i] > best || tie_with_last) {
      front.push_back(i);
      best = gain[i];
      best_cost = cost[i];
    }
  }
  return front;
}

std::vector<ParetoPoint> kv_pareto_points(const RunData& data) {
  std::set<std::string> backends;
  for (const CaseResult& c : data.cases)
    if (c.config.rfind("kv=", 0) == 0) backends.insert(c.backend);
  std::map<std::pair<std::string, std::string>, ParetoPoint> by_key;
  for (const CaseResult& c : data.cases) {
    if (c.config.rfind("kv=", 0) != 0 || c.status != "ok") continue;
    auto bytes = c.metric_value("kv_bytes");
    auto acc = c.metric_value("recall_accuracy");
    if (!bytes || !acc || !std::isfinite(*bytes) || !std::isfinite(*acc) || *bytes <= 0) continue;
    std::string backend = backends.size() > 1 ? c.backend : std::string();
    ParetoPoint& p = by_key[{c.config, backend}];
    p.config = c.config;
    p.backend = backend;
    p.method = c.config.substr(3, c.config.find(':') == std::string::npos ? std::string::npos
                                                                          : c.config.find(':') - 3);
    p.kv_bytes += *bytes;
    p.accuracy += *acc;
    ++p.cases;
  }
  std::vector<ParetoPoint> points;
  for (auto& [key, p] : by_key) {
    p.kv_bytes /= static_cast<double>(p.cases);
    p.accuracy /= static_cast<double>(p.cases);
    points.push_back(std::move(p));
  }
  std::vector<double> cost, gain;
  for (const ParetoPoint& p : points) cost.push_back(p.kv_bytes), gain.push_back(p.accuracy);
  for (size_t i : pareto_front(cost, gain)) points[i].on_front = true;
  std::stable_sort(points.begin(), points.end(), [](const ParetoPoint& a, const ParetoPoint& b) {
    return std::tie(a.method, a.kv_bytes) < std::tie(b.method, b.kv_bytes);
  });
  return points;
}

LogLogChart pareto_chart(const std::vector<ParetoPoint>& points) {
  LogLogChart chart;
  chart.title = "Recall accuracy vs KV-cache bytes (mean over recall cases)";
  chart.css_class = "pareto";
  chart.x = {"KV-cache bytes", [](double v) { return format_si(v, "B"); }, {}};
  chart.y = {"recall accuracy", [](double v) { return fmt::format("{:g}", v); }, {}, false,
             std::pair{0.0, 1.05}};
  chart.y.ticks = {0, 0.2, 0.4, 0.6, 0.8, 1.0};
  chart.empty_message = "no recall cases with kv_bytes and recall_accuracy";
  chart.plot_height = 300;

  ChartSeries front{"Pareto front", {}, true, "", "pareto-front", "#1f2933", true};
  std::map<std::string, ChartSeries> by_method;
  for (const ParetoPoint& p : points) {
    std::string name = p.config + (p.backend.empty() ? "" : " @ " + p.backend);
    ChartSeries& s = by_method[p.method];
    s.label = p.method;
    style_series(s, p.method);  // as in the answers' KV table
    s.connect = false;
    s.css_class = "method";
    s.points.push_back({p.kv_bytes, p.accuracy, name});
    if (p.on_front) front.points.push_back({p.kv_bytes, p.accuracy, name});
  }
  // The front goes first so its broad line sits under every method's markers.
  if (!front.points.empty()) chart.series.push_back(std::move(front));
  for (auto& [m, s] : by_method) chart.series.push_back(std::move(s));
  return chart;
}

std::string render_pareto_table(const std::vector<ParetoPoint>& points) {
  std::string out =
      "<table class=\"pareto sortable\"><thead><tr><th>KV config</th><th>Method</th>"
      "<th class=\"num\">Cases</th><th class=\"num\">KV bytes (mean)</th>"
      "<th class=\"num\">Recall accuracy (mean)</th><th>Pareto front</th></tr></thead><tbody>";
  for (const ParetoPoint& p : points) {
    out += fmt::format(
        "<tr class=\"{}\" data-front=\"{}\"><td class=\"mono cfg\">{}{}</td><td>{}</td>"
        "<td class=\"num\">{}</td><td class=\"num\" data-sort=\"{:.17g}\">{}</td>"
        "<td class=\"num\" data-sort=\"{:.17g}\">{:.3f}</td><td data-sort=\"{}\">{}</td></tr>",
        p.on_front ? "front" : "dominated", p.on_front ? 1 : 0, html_escape(p.config),
        p.backend.empty() ? "" : " <span class=\"dev\">@ " + html_escape(p.backend) + "</span>",
        html_escape(p.method), p.cases, p.kv_bytes, html_escape(format_si(p.kv_bytes, "B")),
        p.accuracy, p.accuracy, p.on_front ? 1 : 0,
        p.on_front ? "<span class=\"badge st-ok\">on front</span>"
                   : "<span class=\"none\">dominated</span>");
  }
  return out + "</tbody></table>";
}

}  // namespace attnbench::reports

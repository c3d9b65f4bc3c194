#include "efficiency.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "case_stats.h"
#include "format_units.h"
#include "html_escape.h"
#include "svg_chart.h"
#include "series_colors.h"

namespace attnbench::reports {

namespace {

constexpr const char* kDash = "\xE2\x80\x94";

std::optional<double> positive_seconds(const CaseResult& c) {
  if (c.status != "ok") return std::nullopt;
  auto s = median_seconds(c);
  if (!s || !std::isfinite(*s) || *s <= 0) return std::nullopt;
  return s;
}

// Everything but the variant/config that must agree between a case and its baseline.
using ShapeKey = std::tuple<std::string, std::string, std::string, std::string,  // backend, device, dtype, phase
                            int64_t, int64_t, int64_t, int64_t, int64_t,           // batch, hq, hkv, d, page
                            int64_t, int64_t>;                                     // len_q, len_k

ShapeKey shape_key(const CaseResult& c) {
  auto v = [](const std::optional<int64_t>& x) { return x.value_or(-1); };
  return {c.backend, c.device, c.dtype, c.phase, v(c.batch), v(c.heads_q), v(c.heads_kv),
          v(c.head_dim), v(c.page_size), v(c.len_q), v(c.len_k)};
}

struct Baseline {
  const CaseResult* c;
  double seconds;
  bool causal;
};

/// The baseline of `c` among `candidates` (all exact cases at its shape), or nullptr.
const Baseline* pick_baseline(const CaseResult& c, bool causal,
                              const std::vector<Baseline>& candidates) {
  const bool decode = c.phase == "decode";
  const char* want = decode ? "decode" : "flash";
  const Baseline* best = nullptr;
  int best_score = -1;
  for (const Baseline& b : candidates) {
    // Only the plain kernel is the baseline, not e.g. "flash:causal,window=128:0".
    if (b.c->config != want && b.c->config != std::string(want) + ":causal") continue;
    // Flash must mask like the variant; decode (one query row) prefers it but takes either.
    if (!decode && b.causal != causal) continue;
    int score = (b.c->suite == c.suite ? 2 : 0) + (b.causal == causal ? 1 : 0);
    if (score > best_score) {  // strict: the first recorded wins a tie
      best = &b;
      best_score = score;
    }
  }
  return best;
}

std::string format_speedup(double s) {
  if (s >= 100) return fmt::format("{:.0f}\xC3\x97", s);
  if (s >= 10) return fmt::format("{:.1f}\xC3\x97", s);
  return fmt::format("{:.2f}\xC3\x97", s);
}

std::string group_title(const EfficiencyGroup& g) {
  return fmt::format("{} \xC2\xB7 {} \xC2\xB7 {} \xC2\xB7 {} \xC2\xB7 {}", g.config, g.backend,
                     g.dtype, g.phase, g.fixed_shape);
}

/// Small multiples: one speedup-vs-length chart per (suite, phase, backend, dtype), one
/// line per approximate configuration (its shape added to the label where one panel holds
/// several shapes), each in the configuration's colour everywhere on the page. A panel
/// per configuration gave a wall of charts with one or two points each.
std::vector<LogLogChart> speedup_panels(const std::vector<EfficiencyGroup>& groups) {
  using PanelKey = std::tuple<std::string, std::string, std::string, std::string>;
  std::map<PanelKey, std::vector<const EfficiencyGroup*>> panels;  // ordered: stable page
  for (const EfficiencyGroup& g : groups) panels[{g.suite, g.phase, g.backend, g.dtype}].push_back(&g);
  std::vector<LogLogChart> charts;
  for (const auto& [key, members] : panels) {
    const auto& [suite, phase, backend, dtype] = key;
    std::set<std::string> shapes;
    for (const EfficiencyGroup* g : members) shapes.insert(g->fixed_shape);
    LogLogChart chart;
    chart.title = fmt::format("{} \xC2\xB7 {} \xC2\xB7 {} \xC2\xB7 {}: speedup over the exact kernel", suite, phase, backend, dtype);
    chart.x = {"context length (len_k)", [](double v) { return format_length(v); }, {}};
    chart.y = {"speedup (exact / variant)", [](double v) { return fmt::format("{:g}\xC3\x97", v); }, {}};
    chart.id = fmt::format("speedup-chart-{}", charts.size());
    chart.css_class = "speedup-vs-length";
    chart.width = 560;
    chart.plot_height = 240;
    chart.empty_message = "no length measured with a baseline";
    std::set<int64_t> lengths;
    for (const EfficiencyGroup* g : members) {
      ChartSeries s(shapes.size() > 1 ? g->config + " (" + g->fixed_shape + ")" : g->config);
      style_series(s, g->config);
      for (const EfficiencyPoint& p : g->points) {
        if (!p.speedup || p.len_k <= 0) continue;
        s.points.push_back({static_cast<double>(p.len_k), *p.speedup, p.shape});
        lengths.insert(p.len_k);
      }
      if (!s.points.empty()) chart.series.push_back(std::move(s));
    }
    if (chart.series.empty()) continue;  // no configuration of this panel has a baseline
    const double lo = static_cast<double>(*lengths.begin()), hi = static_cast<double>(*lengths.rbegin());
    chart.guides.emplace_back("break-even", std::vector<ChartPoint>{{lo, 1.0, ""}, {hi, 1.0, ""}}, "break-even");
    if (lengths.size() >= 2 && lengths.size() <= 12)
      for (int64_t l : lengths) chart.x.ticks.push_back(static_cast<double>(l));
    charts.push_back(std::move(chart));
  }
  return charts;
}

}  // namespace

bool is_exact_variant(std::string_view variant) {
  return variant == "reference" || variant == "naive" || variant == "flash" || variant == "decode";
}

bool config_is_causal(std::string_view config) {
  size_t colon = config.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view opts = config.substr(colon + 1);
  // Options end at the next ':' only inside a value ("window=128:0"), which is not "causal".
  while (!opts.empty()) {
    size_t comma = opts.find(',');
    std::string_view item = opts.substr(0, comma);
    if (item == "causal") return true;
    if (comma == std::string_view::npos) break;
    opts.remove_prefix(comma + 1);
  }
  return false;
}

std::optional<int64_t> efficiency_length(const std::vector<std::pair<int64_t, double>>& points) {
  // Per length: is every point there faster?
  std::map<int64_t, bool> faster;
  for (const auto& [len, speedup] : points) {
    bool win = std::isfinite(speedup) && speedup > 1.0;
    auto [it, fresh] = faster.emplace(len, win);
    if (!fresh) it->second = it->second && win;
  }
  std::optional<int64_t> from;
  for (auto it = faster.rbegin(); it != faster.rend() && it->second; ++it) from = it->first;
  return from;
}

std::vector<EfficiencyGroup> efficiency_groups(const RunData& data) {
  // Exact cases by shape, in recording order.
  std::map<ShapeKey, std::vector<Baseline>> exact;
  for (const CaseResult& c : data.cases) {
    if (!is_exact_variant(c.variant) || !c.len_k) continue;
    if (auto s = positive_seconds(c)) exact[shape_key(c)].push_back({&c, *s, config_is_causal(c.config)});
  }

  using GroupKey = std::tuple<std::string, std::string, std::string, std::string, std::string,
                              std::string, std::string>;  // suite, config, backend, dtype, phase, shape, device
  std::map<GroupKey, EfficiencyGroup> groups;
  for (const CaseResult& c : data.cases) {
    if (is_exact_variant(c.variant) || !c.len_k || *c.len_k <= 0) continue;
    auto seconds = positive_seconds(c);
    if (!seconds) continue;
    std::string fixed = shape_without_length(c);
    EfficiencyGroup& g = groups[{c.suite, c.config, c.backend, c.dtype, c.phase, fixed, c.device}];
    if (g.config.empty()) {
      g.suite = c.suite;
      g.config = c.config;
      g.variant = c.variant;
      g.backend = c.backend;
      g.device = c.device;
      g.dtype = c.dtype;
      g.phase = c.phase;
      g.causal = config_is_causal(c.config);
      g.fixed_shape = fixed;
    }
    EfficiencyPoint p;
    p.len_q = c.len_q.value_or(0);
    p.len_k = *c.len_k;
    p.variant_seconds = *seconds;
    p.rel_error = c.metric_value("rel_error");
    p.mass_kept = c.metric_value("attention_mass_kept");
    p.predicted_speedup = c.metric_value("predicted_speedup");
    p.shape = c.shape;
    auto it = exact.find(shape_key(c));
    if (it != exact.end()) {
      if (const Baseline* b = pick_baseline(c, g.causal, it->second)) {
        p.baseline_seconds = b->seconds;
        p.speedup = b->seconds / *seconds;
        if (g.baseline_config.empty()) g.baseline_config = b->c->config;
      }
    }
    g.points.push_back(std::move(p));
  }

  std::vector<EfficiencyGroup> out;
  for (auto& [key, g] : groups) {
    std::stable_sort(g.points.begin(), g.points.end(), [](const auto& a, const auto& b) {
      return std::tie(a.len_k, a.len_q) < std::tie(b.len_k, b.len_q);
    });
    std::vector<std::pair<int64_t, double>> sp;
    for (const EfficiencyPoint& p : g.points)
      if (p.speedup) {
        sp.emplace_back(p.len_k, *p.speedup);
        g.longest_compared = std::max(g.longest_compared, p.len_k);
      }
    g.efficiency_length = efficiency_length(sp);
    out.push_back(std::move(g));
  }
  return out;
}

std::string efficiency_length_text(const EfficiencyGroup& group) {
  if (group.longest_compared <= 0) return kDash;
  if (group.efficiency_length) return std::to_string(*group.efficiency_length);
  return fmt::format("not reached up to L={}", group.longest_compared);
}

std::optional<double> best_speedup(const EfficiencyGroup& group) {
  std::optional<double> best;
  for (const EfficiencyPoint& p : group.points)
    if (p.speedup && (!best || *p.speedup > *best)) best = p.speedup;
  return best;
}

std::optional<double> worst_rel_error(const EfficiencyGroup& group) {
  std::optional<double> worst;
  for (const EfficiencyPoint& p : group.points)
    if (p.rel_error && (!worst || *p.rel_error > *worst)) worst = p.rel_error;
  return worst;
}

std::string render_efficiency_section(const RunData& data) {
  auto groups = efficiency_groups(data);
  if (groups.empty()) return {};
  std::string out =
      "<section id=\"approximate\"><h2>Sparse and approximate variants</h2><p class=\"note\">"
      "Each approximate configuration against the exact kernel at the same shapes on the same "
      "backend (flash with the same causal mask; decode for decode-phase cases). Speedup = "
      "baseline time / variant time. The efficiency length is the smallest context length from "
      "which the variant is faster than the baseline at every longer measured length, on this "
      "machine. Mass kept is the exact softmax mass on the keys the kernel really used, and the "
      "predicted speedup is 1 / (fraction of visible keys it used), both read back by running the kernel "
      "with one-hot values (blank where that probe would have taken too long). The charts are "
      "small multiples: one per suite, phase, backend and dtype, one line per configuration, "
      "above the break-even line where the variant is faster.</p>";
  out += "<table class=\"efficiency sortable\"><thead><tr><th>Suite</th><th>Config</th>"
         "<th>Backend</th><th>Dtype</th><th>Phase</th><th>Shape</th><th>Baseline</th>"
         "<th>Best speedup</th><th>Max rel_error</th><th>Efficiency length</th></tr></thead><tbody>";
  for (size_t i = 0; i < groups.size(); ++i) {
    const EfficiencyGroup& g = groups[i];
    const std::optional<double> best = best_speedup(g), worst_err = worst_rel_error(g);
    out += fmt::format(
        "<tr><td>{}</td><td class=\"mono\"><a href=\"#approx-{}\">{}</a></td><td>{}</td>"
        "<td>{}</td><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td>"
        "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num eff-length\">{}</td></tr>",
        html_escape(g.suite), i, html_escape(g.config), html_escape(g.backend),
        html_escape(g.dtype), html_escape(g.phase), html_escape(g.fixed_shape),
        g.baseline_config.empty() ? kDash : html_escape(g.baseline_config),
        best ? format_speedup(*best) : kDash, worst_err ? format_scientific(*worst_err) : kDash,
        html_escape(efficiency_length_text(g)));
  }
  out += "</tbody></table>";
  out += "<div class=\"small-multiples\">";
  for (const LogLogChart& chart : speedup_panels(groups))
    out += "<figure class=\"chart small\">" + render_loglog_chart(chart) + "</figure>";
  out += "</div>";

  for (size_t i = 0; i < groups.size(); ++i) {
    const EfficiencyGroup& g = groups[i];
    out += fmt::format("<div class=\"approx-group\" id=\"approx-{}\"><h3 class=\"mono\">{}</h3>", i,
                       html_escape(group_title(g)));
    out += fmt::format("<p class=\"note\">Suite {} \xC2\xB7 baseline {} \xC2\xB7 efficiency length "
                       "<b class=\"eff-length\">{}</b></p>",
                       html_escape(g.suite),
                       g.baseline_config.empty() ? std::string("none found")
                                                 : "<span class=\"mono\">" +
                                                       html_escape(g.baseline_config) + "</span>",
                       html_escape(efficiency_length_text(g)));
    out += "<table class=\"efficiency-lengths\"><thead><tr><th>len_q</th><th>len_k</th>"
           "<th>Variant time</th><th>Baseline time</th><th>Speedup</th><th>Predicted speedup</th>"
           "<th>rel_error</th><th>Mass kept</th></tr></thead><tbody>";
    for (const EfficiencyPoint& p : g.points) {
      bool win = p.speedup && *p.speedup > 1.0;
      out += fmt::format(
          "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
          "<td class=\"num\">{}</td><td class=\"num\">{}{}{}</td><td class=\"num\">{}</td>"
          "<td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
          p.len_q, p.len_k, format_seconds(p.variant_seconds),
          p.baseline_seconds ? format_seconds(*p.baseline_seconds) : kDash, win ? "<b>" : "",
          p.speedup ? format_speedup(*p.speedup) : kDash, win ? "</b>" : "",
          p.predicted_speedup ? format_speedup(*p.predicted_speedup) : kDash,
          p.rel_error ? format_scientific(*p.rel_error) : kDash,
          p.mass_kept ? fmt::format("{:.3f}", *p.mass_kept) : kDash);
    }
    out += "</tbody></table></div>";
  }
  return out + "</section>";
}

}  // namespace attnbench::reports

#include "needle_heatmap.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>

#include "format_units.h"
#include "html_escape.h"

namespace attnbench::reports {

namespace {

/// Depths are fractions computed by generators; a micro-grid keeps 0.3 and
/// 0.30000000000000004 in one row.
double snap(double v) { return std::round(v * 1e6) / 1e6; }

struct Rgb {
  double r, g, b;
};

/// Red-yellow-green (ColorBrewer RdYlGn, 5 stops): accuracy reads as traffic lights.
Rgb ramp(double t) {
  static constexpr std::array<Rgb, 5> kStops{
      {{215, 48, 39}, {252, 141, 89}, {254, 224, 139}, {145, 207, 96}, {26, 152, 80}}};
  t = std::clamp(t, 0.0, 1.0) * (kStops.size() - 1);
  size_t i = std::min<size_t>(static_cast<size_t>(t), kStops.size() - 2);
  double f = t - static_cast<double>(i);
  const Rgb &a = kStops[i], &b = kStops[i + 1];
  return {a.r + f * (b.r - a.r), a.g + f * (b.g - a.g), a.b + f * (b.b - a.b)};
}

std::string hex(Rgb c) {
  return fmt::format("#{:02x}{:02x}{:02x}", static_cast<int>(std::lround(c.r)),
                     static_cast<int>(std::lround(c.g)), static_cast<int>(std::lround(c.b)));
}

/// Dark text on light cells, white on dark ones (relative luminance).
const char* ink(Rgb c) {
  double y = 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b;
  return y > 140 ? "#1f2933" : "#ffffff";
}

}  // namespace

std::vector<NeedleHeatmap> needle_heatmaps(const RunData& data) {
  struct Acc {
    std::set<double> lengths, depths;
    std::map<std::pair<double, double>, std::pair<double, size_t>> sum;  // (depth, len)
  };
  std::set<std::string> backends;
  for (const CaseResult& c : data.cases)
    if (c.config.rfind("kv=", 0) == 0) backends.insert(c.backend);
  std::map<std::pair<std::string, std::string>, Acc> acc;
  for (const CaseResult& c : data.cases) {
    if (c.config.rfind("kv=", 0) != 0 || c.status != "ok" || !c.len_k) continue;
    auto accuracy = c.metric_value("recall_accuracy");
    auto depth = c.metric_value("needle_depth");
    if (!accuracy || !depth || !std::isfinite(*accuracy) || !std::isfinite(*depth)) continue;
    Acc& a = acc[{c.config, backends.size() > 1 ? c.backend : std::string()}];
    double len = static_cast<double>(*c.len_k), d = snap(*depth);
    a.lengths.insert(len);
    a.depths.insert(d);
    auto& [sum, n] = a.sum[{d, len}];
    sum += *accuracy;
    ++n;
  }
  std::vector<NeedleHeatmap> out;
  for (auto& [key, a] : acc) {
    NeedleHeatmap m;
    m.config = key.first;
    m.backend = key.second;
    m.lengths.assign(a.lengths.begin(), a.lengths.end());
    m.depths.assign(a.depths.begin(), a.depths.end());
    m.value.assign(m.depths.size(), std::vector<std::optional<double>>(m.lengths.size()));
    m.count.assign(m.depths.size(), std::vector<size_t>(m.lengths.size(), 0));
    for (size_t r = 0; r < m.depths.size(); ++r)
      for (size_t col = 0; col < m.lengths.size(); ++col)
        if (auto it = a.sum.find({m.depths[r], m.lengths[col]}); it != a.sum.end()) {
          m.value[r][col] = it->second.first / static_cast<double>(it->second.second);
          m.count[r][col] = it->second.second;
        }
    out.push_back(std::move(m));
  }
  return out;
}

std::string render_needle_heatmap(const NeedleHeatmap& m, const std::string& id) {
  const double left = 64, top = 46, right = 14, bottom = 64;
  const double cell_w = std::clamp(360.0 / std::max<size_t>(1, m.lengths.size()), 34.0, 72.0);
  const double cell_h = std::clamp(220.0 / std::max<size_t>(1, m.depths.size()), 18.0, 30.0);
  const double grid_w = cell_w * static_cast<double>(m.lengths.size());
  const double grid_h = cell_h * static_cast<double>(m.depths.size());
  std::string title = m.config + (m.backend.empty() ? "" : " \xC2\xB7 " + m.backend);
  // Wide enough for the (monospace) title and the subtitle, so neither is clipped.
  const double title_w = 7.6 * static_cast<double>(title.size());
  const double W = std::max({left + grid_w + right, left + title_w + right, left + 280.0 + right});
  const double H = top + grid_h + bottom;

  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"{}\" class=\"chart heatmap\" "
      "viewBox=\"0 0 {:.0f} {:.0f}\" width=\"{:.0f}\" height=\"{:.0f}\" role=\"img\" "
      "aria-label=\"needle recall heatmap {}\" font-family=\"system-ui, -apple-system, 'Segoe "
      "UI', Roboto, Arial, sans-serif\" font-size=\"11\"><title>Needle recall: {}</title>"
      "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>",
      html_escape(id), W, H, W, H, html_escape(title), html_escape(title));
  out += fmt::format("<text x=\"{:.0f}\" y=\"18\" font-size=\"12.5\" font-weight=\"600\" "
                     "fill=\"#1f2933\" font-family=\"ui-monospace, Menlo, Consolas, monospace\">{}</text>",
                     left, html_escape(title));
  out += fmt::format("<text x=\"{:.0f}\" y=\"34\" fill=\"#616e7c\">recall accuracy by context "
                     "length \xC3\x97 needle depth</text>",
                     left);
  for (size_t r = 0; r < m.depths.size(); ++r) {
    double y = top + cell_h * static_cast<double>(r);
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\" fill=\"#52606d\">{}</text>",
                       left - 6, y + cell_h / 2 + 3.8, html_escape(format_percent(m.depths[r])));
    for (size_t col = 0; col < m.lengths.size(); ++col) {
      double x = left + cell_w * static_cast<double>(col);
      const auto& v = m.value[r][col];
      if (!v) {
        out += fmt::format("<rect class=\"cell empty\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" "
                           "height=\"{:.1f}\" fill=\"#f0f2f5\" stroke=\"#fff\"/>",
                           x, y, cell_w, cell_h);
        continue;
      }
      Rgb c = ramp(*v);
      out += fmt::format(
          "<g><title>len {} \xC2\xB7 depth {} \xC2\xB7 accuracy {:.3f} ({} case{})</title>"
          "<rect class=\"cell\" data-len=\"{:.0f}\" data-depth=\"{:g}\" data-value=\"{:.3f}\" "
          "x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\" "
          "stroke=\"#fff\"/><text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" fill=\"{}\" "
          "font-size=\"10.5\">{:.2f}</text></g>",
          html_escape(format_length(m.lengths[col])), html_escape(format_percent(m.depths[r])), *v,
          m.count[r][col], m.count[r][col] == 1 ? "" : "s", m.lengths[col], m.depths[r], *v, x, y,
          cell_w, cell_h, hex(c), x + cell_w / 2, y + cell_h / 2 + 3.6, ink(c), *v);
    }
  }
  for (size_t col = 0; col < m.lengths.size(); ++col)
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" fill=\"#52606d\">{}</text>",
                       left + cell_w * (static_cast<double>(col) + 0.5), top + grid_h + 14,
                       html_escape(format_length(m.lengths[col])));
  out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" fill=\"#3e4c59\">context "
                     "length (len_k)</text>",
                     left + grid_w / 2, top + grid_h + 32);
  out += fmt::format("<text transform=\"translate(14 {:.1f}) rotate(-90)\" text-anchor=\"middle\" "
                     "fill=\"#3e4c59\">needle depth</text>",
                     top + grid_h / 2);
  // Colour key: a 5-step strip so a printed page still explains the colours.
  double kx = left, ky = top + grid_h + 42;
  for (int i = 0; i <= 4; ++i) {
    Rgb c = ramp(i / 4.0);
    out += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"26\" height=\"10\" fill=\"{}\"/>"
                       "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" fill=\"#52606d\" "
                       "font-size=\"9.5\">{:g}</text>",
                       kx + 26 * i, ky, hex(c), kx + 26 * i + 13, ky + 20, i / 4.0);
  }
  return out + "</svg>";
}

}  // namespace attnbench::reports

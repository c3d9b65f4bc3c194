#include "svg_chart.h"

#include <algorithm>
#include <array>
#include <cmath>

#include <fmt/format.h>

#include "html_escape.h"

namespace attnbench::reports {

namespace {

// Tableau-10, with the yellow and grey darkened so every line reads on white
// paper; markers cycle with a different period so colour+shape pairs repeat late.
constexpr std::array<const char*, 10> kColors{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2",
                                              "#59a14f", "#b8962e", "#b07aa1", "#ff9da7",
                                              "#9c755f", "#6b6b6b"};

constexpr double kMinMarginLeft = 78, kMarginRight = 24, kMarginTop = 34, kMarginBottom = 52;
constexpr double kLegendRow = 18, kCharWidth = 6.3;  // 11px sans, average glyph

struct Extent {
  double lo = 0, hi = 0;
};

bool placeable(double v, bool log) { return std::isfinite(v) && (!log || v > 0); }

bool plottable(const ChartPoint& p, const LogLogChart& c) {
  return placeable(p.x, c.x.log) && placeable(p.y, c.y.log);
}

/// Widens [min, max] a little so markers do not sit on the frame (in log space
/// on a log axis); a fixed domain is kept as given.
Extent padded(double min, double max, const ChartAxis& axis) {
  if (axis.domain) return {axis.domain->first, axis.domain->second};
  if (!axis.log) {
    if (min == max) return {min - (min == 0 ? 1 : std::fabs(min) / 2), max + (max == 0 ? 1 : std::fabs(max) / 2)};
    double pad = 0.05 * (max - min);
    return {min - pad, max + pad};
  }
  if (min == max) return {min / 2, max * 2};
  double pad = std::max(0.04 * std::log10(max / min), std::log10(1.12));
  return {min / std::pow(10, pad), max * std::pow(10, pad)};
}

std::string fmt_num(const std::function<std::string(double)>& f, double v) {
  return f ? f(v) : fmt::format("{:g}", v);
}

/// A log- or linear-scale mapping from a data extent to a pixel span (may be reversed).
struct Scale {
  Extent domain;
  double p0, p1;
  bool log = true;
  double operator()(double v) const {
    double t = log ? std::log10(v / domain.lo) / std::log10(domain.hi / domain.lo)
                   : (v - domain.lo) / (domain.hi - domain.lo);
    return p0 + t * (p1 - p0);
  }
};

std::vector<double> axis_ticks(const ChartAxis& axis, Extent domain, double data_min,
                               double data_max) {
  std::vector<double> ticks;
  if (!axis.ticks.empty()) {
    for (double t : axis.ticks)
      if (t >= domain.lo && t <= domain.hi) ticks.push_back(t);
  } else {
    ticks = axis.log ? log_ticks(domain.lo, domain.hi) : linear_ticks(domain.lo, domain.hi);
  }
  if (ticks.size() < 2) ticks = data_min == data_max ? std::vector<double>{data_min}
                                                     : std::vector<double>{data_min, data_max};
  return ticks;
}

void marker(std::string& out, int kind, double x, double y, const char* color) {
  const char* style = "stroke=\"#fff\" stroke-width=\"1\"";
  switch (kind) {
    case 0:
      out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3.6\" fill=\"{}\" {}/>", x, y,
                         color, style);
      break;
    case 1:
      out += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"7\" height=\"7\" fill=\"{}\" {}/>",
                         x - 3.5, y - 3.5, color, style);
      break;
    case 2:
      out += fmt::format("<path d=\"M{:.1f} {:.1f}l4.2 7.4h-8.4z\" fill=\"{}\" {}/>", x, y - 4.6,
                         color, style);
      break;
    case 3:
      out += fmt::format("<path d=\"M{:.1f} {:.1f}l4.4 4.4l-4.4 4.4l-4.4 -4.4z\" fill=\"{}\" {}/>",
                         x, y - 4.4, color, style);
      break;
    default:
      out += fmt::format("<path d=\"M{:.1f} {:.1f}l4.2 -7.4h-8.4z\" fill=\"{}\" {}/>", x, y + 4.6,
                         color, style);
  }
}

/// Cuts a label to `max_chars` (UTF-8 aware), marking the cut with an ellipsis.
std::string shorten(const std::string& s, size_t max_chars) {
  size_t chars = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
    if (chars == max_chars) return s.substr(0, i) + "\xE2\x80\xA6";
    ++chars;
  }
  return s;
}

}  // namespace

std::vector<double> log_ticks(double lo, double hi, size_t max_ticks) {
  if (!(lo > 0) || !(hi >= lo) || !std::isfinite(hi) || max_ticks == 0) return {};
  static const std::vector<std::vector<double>> kSteps{
      {1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 5}, {1}};
  int k0 = static_cast<int>(std::floor(std::log10(lo)));
  int k1 = static_cast<int>(std::ceil(std::log10(hi)));
  auto generate = [&](const std::vector<double>& steps, int stride) {
    std::vector<double> ticks;
    for (int k = k0; k <= k1; ++k) {
      if ((k - k0) % stride != 0) continue;
      for (double m : steps) {
        double t = m * std::pow(10.0, k);
        // Relative slack: pow() is not exact, and lo/hi may be tick values.
        if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.push_back(t);
      }
    }
    return ticks;
  };
  for (const auto& steps : kSteps) {
    auto ticks = generate(steps, 1);
    if (ticks.size() <= max_ticks) return ticks;
  }
  // More decades than ticks allowed: label every n-th decade.
  int decades = k1 - k0 + 1;
  int stride = (decades + static_cast<int>(max_ticks) - 1) / static_cast<int>(max_ticks);
  return generate({1}, stride);
}

std::vector<double> linear_ticks(double lo, double hi, size_t max_ticks) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || !(hi > lo) || max_ticks < 2) return {};
  double raw = (hi - lo) / static_cast<double>(max_ticks - 1);
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag * 10;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step)
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  return ticks;
}

std::string render_loglog_chart(const LogLogChart& chart) {
  // Only points the axes can place take part in scaling and drawing.
  auto placed = [&](const std::vector<ChartPoint>& in, bool sort) {
    std::vector<ChartPoint> pts;
    for (const ChartPoint& p : in)
      if (plottable(p, chart)) pts.push_back(p);
    if (sort)
      std::stable_sort(pts.begin(), pts.end(),
                       [](const ChartPoint& a, const ChartPoint& b) { return a.x < b.x; });
    return pts;
  };
  std::vector<std::vector<ChartPoint>> lines;
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  auto extend = [&](const std::vector<ChartPoint>& pts) {
    for (const ChartPoint& p : pts) {
      xmin = std::min(xmin, p.x), xmax = std::max(xmax, p.x);
      ymin = std::min(ymin, p.y), ymax = std::max(ymax, p.y);
    }
  };
  size_t longest_label = 0;
  for (const ChartSeries& s : chart.series) {
    lines.push_back(placed(s.points, true));
    extend(lines.back());
    longest_label = std::max(longest_label, s.label.size() + s.legend_note.size() + 2);
  }
  const bool empty = !(xmin <= xmax);
  std::vector<std::vector<ChartPoint>> guides;
  for (const ChartGuide& g : chart.guides) {
    guides.push_back(placed(g.points, false));
    if (!empty) extend(guides.back());
  }

  // Long y tick labels ("20.0 TFLOP/s") widen the left margin so they clear the axis title.
  double margin_left = kMinMarginLeft;
  std::optional<Extent> ydom;
  if (!empty) {
    ydom = padded(ymin, ymax, chart.y);
    size_t widest = 0;
    for (double t : axis_ticks(chart.y, *ydom, ymin, ymax))
      widest = std::max(widest, fmt_num(chart.y.format, t).size());
    margin_left = std::max(kMinMarginLeft, 34 + kCharWidth * static_cast<double>(widest));
  }
  const double W = chart.width, plot_w = W - margin_left - kMarginRight;
  const double plot_h = chart.plot_height;
  const double plot_top = kMarginTop, plot_bottom = kMarginTop + plot_h;
  const double max_col = plot_w + margin_left - 8;
  const double col_w = std::min(max_col, kCharWidth * static_cast<double>(longest_label) + 40);
  const size_t cols = std::max<size_t>(1, static_cast<size_t>((W - 16) / std::max(col_w, 1.0)));
  const size_t n_series = empty ? 0 : chart.series.size();
  const size_t rows = (n_series + cols - 1) / cols;
  const double legend_top = plot_bottom + kMarginBottom;
  const double H = legend_top + static_cast<double>(rows) * kLegendRow + (rows ? 8 : 0);

  std::string out;
  out += fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\"{} class=\"chart{}\" viewBox=\"0 0 {:.0f} {:.0f}\" "
      "width=\"{:.0f}\" height=\"{:.0f}\" role=\"img\" aria-label=\"{}\" "
      "font-family=\"system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif\" "
      "font-size=\"11\">",
      chart.id.empty() ? "" : fmt::format(" id=\"{}\"", html_escape(chart.id)),
      chart.css_class.empty() ? "" : fmt::format(" {}", html_escape(chart.css_class)), W, H, W, H,
      html_escape(chart.title));
  out += fmt::format("<title>{}</title>", html_escape(chart.title));
  out += fmt::format("<rect width=\"{:.0f}\" height=\"{:.0f}\" fill=\"#fff\"/>", W, H);
  out += fmt::format(
      "<text x=\"{:.1f}\" y=\"20\" font-size=\"13\" font-weight=\"600\" fill=\"#1f2933\">{}</text>",
      margin_left, html_escape(chart.title));
  out += fmt::format(
      "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" "
      "stroke=\"#9aa5b1\"/>",
      margin_left, plot_top, plot_w, plot_h);
  // Axis titles are drawn even for an empty chart so it still says what it would show.
  out += fmt::format(
      "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" fill=\"#3e4c59\">{}</text>",
      margin_left + plot_w / 2, plot_bottom + 38, html_escape(chart.x.label));
  out += fmt::format(
      "<text transform=\"translate(16 {:.1f}) rotate(-90)\" text-anchor=\"middle\" "
      "fill=\"#3e4c59\">{}</text>",
      plot_top + plot_h / 2, html_escape(chart.y.label));

  if (empty) {
    out += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" fill=\"#7b8794\">{}</text></svg>",
        margin_left + plot_w / 2, plot_top + plot_h / 2, html_escape(chart.empty_message));
    return out;
  }

  const Scale sx{padded(xmin, xmax, chart.x), margin_left, margin_left + plot_w, chart.x.log};
  const Scale sy{*ydom, plot_bottom, plot_top, chart.y.log};

  out += "<g class=\"grid\" stroke=\"#e4e7eb\" stroke-width=\"1\">";
  std::string labels;
  for (double t : axis_ticks(chart.x, sx.domain, xmin, xmax)) {
    double px = sx(t);
    out += fmt::format("<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1:.1f}\" y2=\"{2:.1f}\"/>", px,
                       plot_top, plot_bottom);
    labels += fmt::format(
        "<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1:.1f}\" y2=\"{2:.1f}\" stroke=\"#9aa5b1\"/>"
        "<text x=\"{0:.1f}\" y=\"{3:.1f}\" text-anchor=\"middle\" fill=\"#52606d\">{4}</text>",
        px, plot_bottom, plot_bottom + 4, plot_bottom + 16,
        html_escape(fmt_num(chart.x.format, t)));
  }
  for (double t : axis_ticks(chart.y, sy.domain, ymin, ymax)) {
    double py = sy(t);
    out += fmt::format("<line x1=\"{0:.1f}\" x2=\"{1:.1f}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\"/>",
                       margin_left, margin_left + plot_w, py);
    labels += fmt::format(
        "<line x1=\"{0:.1f}\" x2=\"{1:.1f}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"#9aa5b1\"/>"
        "<text x=\"{3:.1f}\" y=\"{4:.1f}\" text-anchor=\"end\" fill=\"#52606d\">{5}</text>",
        margin_left - 4, margin_left, py, margin_left - 7, py + 3.5,
        html_escape(fmt_num(chart.y.format, t)));
  }
  out += "</g>";
  out += labels;

  // Guides sit under the data, dashed, labelled just above their right end.
  for (size_t i = 0; i < guides.size(); ++i) {
    const auto& pts = guides[i];
    const ChartGuide& g = chart.guides[i];
    if (pts.size() < 2) continue;
    out += fmt::format("<g class=\"guide {}\"><title>{}</title><polyline fill=\"none\" "
                       "stroke=\"{}\" stroke-width=\"1.4\" stroke-dasharray=\"6 4\" points=\"",
                       html_escape(g.css_class), html_escape(g.label), html_escape(g.color));
    for (const ChartPoint& p : pts) out += fmt::format("{:.1f},{:.1f} ", sx(p.x), sy(p.y));
    const ChartPoint& at = g.label_at_start ? pts.front() : pts.back();
    out += fmt::format("\"/><text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"{}\" fill=\"{}\">{}</text></g>",
                       sx(at.x) + (g.label_at_start ? 8 : -4), sy(at.y) + (g.label_at_start ? 4 : -5),
                       g.label_at_start ? "start" : "end", html_escape(g.color), html_escape(g.label));
  }

  auto color_of = [&](size_t i) -> std::string {
    return chart.series[i].color.empty() ? kColors[i % kColors.size()] : chart.series[i].color;
  };
  auto marker_of = [&](size_t i) {
    const int m = chart.series[i].marker;
    return m >= 0 && m < kMarkerKinds ? m : static_cast<int>(i % kMarkerKinds);
  };
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& pts = lines[i];
    const ChartSeries& s = chart.series[i];
    const std::string color = html_escape(color_of(i));
    const int kind = marker_of(i);
    const std::string label = html_escape(s.label);
    out += fmt::format("<g class=\"series{}\">", s.css_class.empty() ? "" : fmt::format(" {}", html_escape(s.css_class)));
    if (s.connect && pts.size() > 1) {
      out += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" {}"
                         "stroke-linejoin=\"round\" points=\"",
                         color, s.emphasis ? "6" : "1.8",
                         s.emphasis ? "stroke-opacity=\"0.28\" stroke-linecap=\"round\" " : "");
      for (const ChartPoint& p : pts) out += fmt::format("{:.1f},{:.1f} ", sx(p.x), sy(p.y));
      out += "\"/>";
    }
    for (const ChartPoint& p : pts) {
      // A <g> with a <title> gives each marker a native hover tooltip, no script needed.
      out += fmt::format("<g class=\"pt\"><title>{}: {} = {}, {} = {}{}{}</title>", label,
                         html_escape(chart.x.label), html_escape(fmt_num(chart.x.format, p.x)),
                         html_escape(chart.y.label), html_escape(fmt_num(chart.y.format, p.y)),
                         p.note.empty() ? "" : "; ", html_escape(p.note));
      marker(out, kind, sx(p.x), sy(p.y), color.c_str());
      out += "</g>";
    }
    out += "</g>";
  }

  // Legend below the plot, in as many columns as the widest label allows.
  for (size_t i = 0; i < n_series; ++i) {
    double x = 16 + static_cast<double>(i % cols) * col_w;
    double y = legend_top + static_cast<double>(i / cols) * kLegendRow;
    const std::string color = html_escape(color_of(i));
    const ChartSeries& s = chart.series[i];
    const double note_chars = s.legend_note.empty() ? 0 : static_cast<double>(s.legend_note.size()) + 2;
    const size_t max_chars = static_cast<size_t>(std::max(8.0, (col_w - 40) / kCharWidth - note_chars));
    out += fmt::format("<g class=\"legend\"><title>{}{}{}</title>", html_escape(s.label),
                       s.legend_note.empty() ? "" : " \xE2\x80\x94 ", html_escape(s.legend_note));
    if (s.connect || s.emphasis)
      out += fmt::format(
          "<line x1=\"{0:.1f}\" x2=\"{1:.1f}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"{3}\" "
          "stroke-width=\"{4}\"{5}/>",
          x, x + 24, y, color, s.emphasis ? "6" : "1.8", s.emphasis ? " stroke-opacity=\"0.28\"" : "");
    marker(out, marker_of(i), x + 12, y, color.c_str());
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"#323f4b\">{}", x + 30, y + 3.8,
                       html_escape(shorten(s.label, max_chars)));
    if (!s.legend_note.empty())
      out += fmt::format("<tspan class=\"note\" dx=\"8\" font-weight=\"600\">{}</tspan>",
                         html_escape(s.legend_note));
    out += "</text></g>";
  }
  out += "</svg>";
  return out;
}

}  // namespace attnbench::reports

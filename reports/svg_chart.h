// A small, dependency-free builder for x-y charts as inline SVG text: log (or
// linear) axes with tick labels, one polyline and/or markers per series,
// reference guide lines (roofs), and a legend.
#pragma once

#include <functional>
#include <optional>
#include <utility>
#include <string>
#include <vector>

namespace attnbench::reports {

/// One point; `note` (optional) is added to the point's hover tooltip.
struct ChartPoint {
  double x = 0;
  double y = 0;
  std::string note;
};

/// One line. Points need not be sorted; non-positive or non-finite points are
/// dropped because a log axis cannot place them.
struct ChartSeries {
  /// A constructor so call sites may name only the leading fields.
  ChartSeries(std::string label_ = {}, std::vector<ChartPoint> points_ = {}, bool connect_ = true,
              std::string legend_note_ = {}, std::string css_class_ = {}, std::string color_ = {},
              bool emphasis_ = false)
      : label(std::move(label_)), points(std::move(points_)), connect(connect_),
        legend_note(std::move(legend_note_)), css_class(std::move(css_class_)),
        color(std::move(color_)), emphasis(emphasis_) {}
  std::string label;
  std::vector<ChartPoint> points;
  bool connect = true;       // false: markers only (a scatter)
  std::string legend_note;   // drawn bold after the label and never cut (a fitted exponent)
  std::string css_class;     // extra class on the series' <g>, so tests and CSS can find it
  std::string color;         // empty: the palette colour for the series' position
  bool emphasis = false;     // a thick translucent line under the markers (a Pareto front)
  int marker = -1;           // marker shape 0..4; -1: the shape for the series' position
};

/// Marker shapes a chart draws (circle, square, triangle up, diamond, triangle down).
inline constexpr int kMarkerKinds = 5;

/// A reference line that is not data (a roof of the roofline): dashed, labelled
/// at its right end, and taken into account when fitting the axes.
struct ChartGuide {
  ChartGuide(std::string label_ = {}, std::vector<ChartPoint> points_ = {},
             std::string css_class_ = {}, std::string color_ = "#52606d", bool label_at_start_ = false)
      : label(std::move(label_)), points(std::move(points_)), css_class(std::move(css_class_)),
        color(std::move(color_)), label_at_start(label_at_start_) {}
  std::string label;
  std::vector<ChartPoint> points;
  std::string css_class;
  std::string color;
  bool label_at_start = false;  // label under the first point (a rising slope) instead of the last
};

/// How one axis is labelled. With `ticks` empty, ticks are chosen automatically
/// (decades, or 1-2-5 / 1..9 steps when the range is narrow).
struct ChartAxis {
  /// A constructor (not aggregate init) so call sites may name only the leading fields.
  ChartAxis(std::string label_ = {}, std::function<std::string(double)> format_ = {},
            std::vector<double> ticks_ = {}, bool log_ = true,
            std::optional<std::pair<double, double>> domain_ = {})
      : label(std::move(label_)), format(std::move(format_)), ticks(std::move(ticks_)),
        log(log_), domain(domain_) {}
  std::string label;
  std::function<std::string(double)> format;  // empty: "%g"
  std::vector<double> ticks;
  bool log = true;  // false: a linear axis (e.g. an accuracy in [0, 1])
  /// Fixed domain [lo, hi] instead of one fitted to the data (lo < hi; lo > 0 on a log axis).
  std::optional<std::pair<double, double>> domain;
};

/// A whole chart. Sizes are in SVG user units; the SVG scales to its container.
struct LogLogChart {
  std::string title;
  ChartAxis x, y;
  std::vector<ChartSeries> series;
  std::vector<ChartGuide> guides;
  std::string id;         // the <svg> element's id (empty: none)
  std::string css_class;  // added to the <svg>'s class "chart"
  int width = 880;
  int plot_height = 320;
  std::string empty_message = "no data to plot";
};

/// Renders `chart` as a standalone <svg> element. Every label is escaped, so
/// titles, series labels and notes may hold arbitrary text. Points a log axis
/// cannot place (<= 0) and non-finite points are dropped.
std::string render_loglog_chart(const LogLogChart& chart);

/// Tick positions for a log axis over [lo, hi] (both > 0): the densest of
/// decades, 1-2-5 and 1..9 steps that yields at most `max_ticks` ticks, falling
/// back to {lo, hi} when the range is too narrow to hold two.
std::vector<double> log_ticks(double lo, double hi, size_t max_ticks = 8);

/// Tick positions for a linear axis over [lo, hi]: multiples of a 1-2-5 step
/// giving at most `max_ticks` ticks.
std::vector<double> linear_ticks(double lo, double hi, size_t max_ticks = 8);

}  // namespace attnbench::reports

// A small, dependency-free builder for log-log line charts as inline SVG text:
// axes with tick labels, one polyline with markers per series, and a legend.
#pragma once

#include <functional>
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
  std::string label;
  std::vector<ChartPoint> points;
};

/// How one axis is labelled. With `ticks` empty, ticks are chosen automatically
/// (decades, or 1-2-5 / 1..9 steps when the range is narrow).
struct ChartAxis {
  std::string label;
  std::function<std::string(double)> format;  // empty: "%g"
  std::vector<double> ticks;
};

/// A whole chart. Sizes are in SVG user units; the SVG scales to its container.
struct LogLogChart {
  std::string title;
  ChartAxis x, y;
  std::vector<ChartSeries> series;
  int width = 880;
  int plot_height = 320;
  std::string empty_message = "no data to plot";
};

/// Renders `chart` as a standalone <svg> element. Every label is escaped, so
/// titles, series labels and notes may hold arbitrary text.
std::string render_loglog_chart(const LogLogChart& chart);

/// Tick positions for a log axis over [lo, hi] (both > 0): the densest of
/// decades, 1-2-5 and 1..9 steps that yields at most `max_ticks` ticks, falling
/// back to {lo, hi} when the range is too narrow to hold two.
std::vector<double> log_ticks(double lo, double hi, size_t max_ticks = 8);

}  // namespace attnbench::reports

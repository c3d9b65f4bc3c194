// One colour per variant name, the same in every chart and table of a page (and
// of every page): a reader who learnt "flash:causal is blue" keeps that meaning.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "svg_chart.h"

namespace attnbench::reports {

/// The names a page draws, each given its own (colour, marker) pair while this object
/// lives: the sorted names take Tol's nine colours in turn, then the next marker shape,
/// so up to 45 names never share both. A page installs one around its rendering (one
/// per thread, the innermost wins); names it does not hold fall back to the hash below.
class PagePalette {
 public:
  explicit PagePalette(std::vector<std::string> names);
  ~PagePalette();
  PagePalette(const PagePalette&) = delete;
  PagePalette& operator=(const PagePalette&) = delete;
  /// The name's position among the page's sorted names, or -1.
  int index(std::string_view name) const;

 private:
  std::vector<std::string> names_;  // sorted, unique
  const PagePalette* outer_;
};

/// The colour (a "#rrggbb" string) of `name`: Paul Tol's colour-blind-safe "muted"
/// palette, by the name's place in the page's palette, else by a 32-bit FNV-1a hash of
/// the name; never by which other series a chart holds.
std::string variant_color(std::string_view name);

/// The marker shape (0 .. kMarkerKinds-1) of `name`: by its place in the page's palette,
/// else from other bits of the same hash than its colour.
int variant_marker(std::string_view name);

/// Sets a series' colour and marker to those of `name`.
void style_series(ChartSeries& s, std::string_view name);

/// A small square of `name`'s colour, for a table cell next to the name.
std::string color_swatch(std::string_view name);

}  // namespace attnbench::reports

#include "series_colors.h"

#include <algorithm>
#include <array>
#include <cstdint>

namespace attnbench::reports {

namespace {

// Tol "muted" (https://personal.sron.nl/~pault/), distinct under the common colour
// vision deficiencies; nine entries spread the hash more than Okabe-Ito's seven usable ones.
constexpr std::array<const char*, 9> kMuted{"#332288", "#88ccee", "#44aa99", "#117733", "#999933",
                                            "#ddcc77", "#cc6677", "#882255", "#aa4499"};

uint32_t fnv1a(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char ch : s) {
    h ^= ch;
    h *= 16777619u;
  }
  return h;
}

thread_local const PagePalette* t_palette = nullptr;

/// The name's slot: its place on the page, else its hash.
uint32_t slot(std::string_view name) {
  const int i = t_palette ? t_palette->index(name) : -1;
  return i >= 0 ? static_cast<uint32_t>(i) : fnv1a(name);
}

}  // namespace

PagePalette::PagePalette(std::vector<std::string> names) : names_(std::move(names)), outer_(t_palette) {
  std::sort(names_.begin(), names_.end());
  names_.erase(std::unique(names_.begin(), names_.end()), names_.end());
  t_palette = this;
}

PagePalette::~PagePalette() { t_palette = outer_; }

int PagePalette::index(std::string_view name) const {
  const auto it = std::lower_bound(names_.begin(), names_.end(), name);
  return it != names_.end() && *it == name ? static_cast<int>(it - names_.begin()) : -1;
}

std::string variant_color(std::string_view name) { return kMuted[slot(name) % kMuted.size()]; }

int variant_marker(std::string_view name) {
  return static_cast<int>(slot(name) / kMuted.size() % kMarkerKinds);
}

void style_series(ChartSeries& s, std::string_view name) {
  s.color = variant_color(name);
  s.marker = variant_marker(name);
}

std::string color_swatch(std::string_view name) {
  // The colour comes from the fixed palette, never from the name, so it needs no escaping.
  return "<span class=\"swatch\" style=\"background:" + variant_color(name) + "\"></span>";
}

}  // namespace attnbench::reports

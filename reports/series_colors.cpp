#include "series_colors.h"

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

}  // namespace

std::string variant_color(std::string_view name) { return kMuted[fnv1a(name) % kMuted.size()]; }

std::string color_swatch(std::string_view name) {
  // The colour comes from the fixed palette, never from the name, so it needs no escaping.
  return "<span class=\"swatch\" style=\"background:" + variant_color(name) + "\"></span>";
}

}  // namespace attnbench::reports

// One colour per variant name, the same in every chart and table of a page (and
// of every page): a reader who learnt "flash:causal is blue" keeps that meaning.
#pragma once

#include <string>
#include <string_view>

namespace attnbench::reports {

/// The colour (a "#rrggbb" string) of `name`: Paul Tol's colour-blind-safe "muted"
/// palette indexed by a 32-bit FNV-1a hash of the name, so it depends on the name only,
/// never on which other series a chart holds. Different names may share a colour;
/// charts then tell them apart by marker shape.
std::string variant_color(std::string_view name);

/// A small square of `name`'s colour, for a table cell next to the name.
std::string color_swatch(std::string_view name);

}  // namespace attnbench::reports

// Parsing of the comparison knobs as users type them: "5%" or "0.05", "1e-6,10%".
#pragma once

#include <string>

#include "compare_verdict.h"

namespace attnbench::compare {

/// "5%" -> 0.05, "0.05" -> 0.05. Throws std::invalid_argument naming `option` on
/// anything else, or on a negative value.
double parse_fraction(const std::string& text, const std::string& option);

/// "--error-tolerance ABS[,REL]", e.g. "1e-6,10%": sets error_abs and (if given) error_rel.
void parse_error_tolerance(const std::string& text, CompareOptions& o);

}  // namespace attnbench::compare

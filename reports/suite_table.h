// The per-suite results table.
#pragma once

#include <string>
#include <vector>

#include "report_data.h"

namespace attnbench::reports {

/// Renders one suite's cases as a sortable HTML table, one row per case:
/// config, shape, dtype, backend, phase, status (with the message of a case that
/// did not succeed), median time, spread, FLOP/s, bytes/s, fractions of peak,
/// error, and every other metric generically. All database text is escaped.
std::string render_suite_table(const std::vector<const CaseResult*>& cases);

/// The CSS class suffix for a case status ("ok", "failed", ...; anything
/// unexpected maps to "other" so stored text never lands in a class name).
std::string status_class(const std::string& status);

}  // namespace attnbench::reports

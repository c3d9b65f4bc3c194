// The per-suite results table.
#pragma once

#include <string>
#include <vector>

#include "report_data.h"

namespace attnbench::reports {

/// Renders the frame of one suite's case table: its header and an empty body whose
/// rows the page script (kSuiteTableScript) draws from the embedded JSON, one per
/// case: config, shape, dtype, backend, phase, status, median time, spread, FLOP/s,
/// bytes/s, fractions of peak, error and every other metric. `cases` point into
/// `all`, whose order is the JSON's "cases" array; the table lists their positions
/// in its data-case-rows attribute ("0-5,9"), in the order given. Drawing the rows
/// in the page keeps each value once in the file (the JSON), which halves a large
/// report; a page read without scripts says where the numbers are instead.
std::string render_suite_table(const std::vector<const CaseResult*>& cases,
                               const std::vector<CaseResult>& all);

/// The CSS class suffix for a case status ("ok", "failed", ...; anything
/// unexpected maps to "other" so stored text never lands in a class name).
std::string status_class(const std::string& status);

}  // namespace attnbench::reports

// The per-suite chart: median time per call against context length.
#pragma once

#include <string>
#include <vector>

#include "report_data.h"
#include "svg_chart.h"

namespace attnbench::reports {

/// Builds the log-log chart of median time vs len_k for one suite's cases. One
/// series per (config, dtype, backend, phase); device and the rest of the shape
/// join the key only where they vary, so each line is a function of len_k alone.
/// Only cases with status ok, a len_k and a positive median time are plotted.
/// Each series with two or more lengths carries its fitted scaling exponent
/// ("∝ L^2.00", least squares in log-log) as its legend note.
LogLogChart suite_time_chart(const std::string& suite, const std::vector<const CaseResult*>& cases);

}  // namespace attnbench::reports

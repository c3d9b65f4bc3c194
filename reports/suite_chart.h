// The per-suite chart: median time per call against context length.
#pragma once

#include <string>
#include <vector>

#include "report_data.h"
#include "svg_chart.h"

namespace attnbench::reports {

/// The phases of `cases` that have something to plot (status ok, a len_k, a positive
/// median time), in order of first appearance: one chart each, so prefill and decode
/// times (orders of magnitude apart) never share an axis.
std::vector<std::string> plotted_phases(const std::vector<const CaseResult*>& cases);

/// Builds the log-log chart of median time vs len_k for one suite's cases of one
/// phase. One series per (config, dtype, backend); device and the rest of the shape
/// join the key only where they vary, so each line is a function of len_k alone.
/// Only cases with status ok, a len_k and a positive median time are plotted.
/// Each series with two or more lengths carries its fitted scaling exponent
/// ("∝ L^2.00", least squares in log-log) as its legend note.
LogLogChart suite_time_chart(const std::string& suite, const std::string& phase,
                             const std::vector<const CaseResult*>& cases);

}  // namespace attnbench::reports

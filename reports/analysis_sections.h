// The report's cross-suite sections: roofline, KV-cache recall (needle
// heatmaps and the accuracy/bytes Pareto front) and backends side by side.
// Each renders a short note instead of a chart when the run has no data for it.
#pragma once

#include <string>

#include "report_data.h"

namespace attnbench::reports {

/// <section id="roofline">: one roofline chart per backend with measured peaks.
std::string render_roofline_section(const RunData& data);

/// <section id="recall">: a needle heatmap per KV config (ids "heatmap-0", ...)
/// and the Pareto chart (id "pareto-chart") with its table.
std::string render_recall_section(const RunData& data);

/// <section id="backends">: the cross-backend table.
std::string render_backend_section(const RunData& data);

}  // namespace attnbench::reports

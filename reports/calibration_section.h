// The calibration section (<section id="calibration">): attention statistics of the
// run's data (the generator's cases and any trace), measured by the "full" KV cases
// (calib_* metrics, harness/src/trace/attention_calibration.h), next to what published
// work measured on real models, with the source of each.
#pragma once

#include <string>
#include <vector>

#include "report_data.h"

namespace attnbench::reports {

/// One statistic of one data source.
struct CalibrationRow {
  std::string source;     ///< "generator" or "trace NAME (MODEL)"
  std::string statistic;  ///< "sink_mass", "recent_mass", "entropy", "norm_corr"
  double mean = 0, min = 0, max = 0;
  size_t cases = 0;
  std::string published;  ///< what the source reports on real models
  std::string reference;  ///< the source
  std::string agrees;     ///< "yes", "no" or "n/a" under the published claim's direction
};

/// Rows per (data source, statistic) over the ok cases carrying calib_* metrics, the
/// per-case means averaged and the extremes pooled. Ordered by source, then statistic.
std::vector<CalibrationRow> calibration_rows(const RunData& data);

/// The section, or empty when no case measured the statistics. All text is escaped.
std::string render_calibration_section(const RunData& data);

}  // namespace attnbench::reports

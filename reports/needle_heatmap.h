// Needle-in-a-haystack heatmaps: recall accuracy by context length and needle
// depth, one grid per KV-cache method configuration.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "report_data.h"

namespace attnbench::reports {

/// One heatmap: rows are needle depths (0 = start of the context), columns
/// context lengths; a cell is the mean recall_accuracy of its cases.
struct NeedleHeatmap {
  std::string config;   // canonical "kv=..." string
  std::string backend;  // set only when the run has several backends
  std::vector<double> lengths, depths;                    // ascending
  std::vector<std::vector<std::optional<double>>> value;  // [depth][length]
  std::vector<std::vector<size_t>> count;                 // cases per cell
};

/// Heatmaps for the run's recall cases (config starting with "kv=", status ok,
/// with recall_accuracy, needle_depth and len_k), one per (config, backend), in
/// config order. Empty when the run has no such cases.
std::vector<NeedleHeatmap> needle_heatmaps(const RunData& data);

/// Renders `map` as an <svg class="chart heatmap"> whose cells are <rect
/// class="cell"> with data-len, data-depth and data-value (3 decimals), the value
/// printed in the cell and a colour from red (0) through yellow to green (1).
/// `id` becomes the element id. All text is escaped.
std::string render_needle_heatmap(const NeedleHeatmap& map, const std::string& id);

}  // namespace attnbench::reports

// The data a report shows, as JSON embedded in the page, so readers can re-plot or
// re-analyse it without the database (raw samples: `attnbench export --format json`).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "report_data.h"

namespace attnbench::reports {

/// The run, its machine peaks, each metric's unit (metric_units) and every case with
/// its identity, status, message, FLOP/byte models, repetition count and metric values
/// (null where not finite). Stored JSON columns (library_versions, selection) are
/// parsed when valid, else kept as strings. Schema tag: "attnbench-report-data/2".
nlohmann::json run_to_json(const RunData& data);

/// Serialises `j` so it can sit inside an HTML <script> element: '<', '>' and
/// '&' become \u003c, \u003e and \u0026 (they can only occur inside JSON
/// strings, so this is still the same JSON), and invalid UTF-8 from plugins is
/// replaced rather than thrown on.
std::string json_for_script(const nlohmann::json& j);

}  // namespace attnbench::reports

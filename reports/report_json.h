// The data a report shows, as JSON embedded in the page, so readers can re-plot or
// re-analyse it without the database (raw samples: `attnbench export --format json`).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "report_data.h"

namespace attnbench::reports {

/// The run, its machine peaks, each metric's unit (metric_units) and every case with
/// its identity (id, suite, backend, config, shape; the stored case key is
/// suite|backend|config|shape), status, message, FLOP/byte models, repetition count and metric values
/// at 7 significant digits (null where not finite), plus median_seconds / mad_seconds
/// where the time metrics are missing and the samples give them. Stored JSON columns (library_versions, selection) are
/// parsed when valid, else kept as strings. Schema tag: "attnbench-report-data/3".
nlohmann::json run_to_json(const RunData& data);

/// Serialises `j` so it can sit inside an HTML <script> element: '<', '>' and
/// '&' become \u003c, \u003e and \u0026 (they can only occur inside JSON
/// strings, so this is still the same JSON), and invalid UTF-8 from plugins is
/// replaced rather than thrown on.
std::string json_for_script(const nlohmann::json& j);

}  // namespace attnbench::reports

// The raw data of a run as JSON, for embedding in a report so readers can
// re-plot or re-analyse it without the database.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "report_data.h"

namespace attnbench::reports {

/// The run, its machine peaks and every case with metrics and samples. Stored
/// JSON columns (library_versions, selection) are parsed when valid, else kept
/// as strings. Schema tag: "attnbench-report-data/1".
nlohmann::json run_to_json(const RunData& data);

/// Serialises `j` so it can sit inside an HTML <script> element: '<', '>' and
/// '&' become \u003c, \u003e and \u0026 (they can only occur inside JSON
/// strings, so this is still the same JSON), and invalid UTF-8 from plugins is
/// replaced rather than thrown on.
std::string json_for_script(const nlohmann::json& j);

}  // namespace attnbench::reports

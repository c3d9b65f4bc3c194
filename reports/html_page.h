// Assembly of the self-contained HTML report page from a loaded run.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "report_data.h"
#include "noise_check.h"
#include "run_comparison.h"

namespace attnbench::reports {

/// Renders the whole page: provenance, machine peaks, status summary, then per
/// suite a chart and a table, the run's raw data as embedded JSON
/// (<script type="application/json" id="attnbench-data">) and the sort script.
/// `source_name` (e.g. the database file name) is shown in the footer. The page
/// loads nothing from the network, and output depends only on its inputs.
std::string render_html_page(const RunData& data, std::string_view source_name);

/// As above, plus the cross-suite sections (roofline, recall heatmaps and Pareto
/// front, backends side by side) and, when `comparison` is given, the run-vs-run
/// section. The <body> carries data-js-errors (incremented by window "error"
/// events) and data-ready="1" once the page script has run, so a headless
/// browser can check the page from its dumped DOM.
/// The run's own A/A noise check (aa_noise_check at the comparison's threshold,
/// else 5%) is shown in the summary without a comparison, else in it.
std::string render_html_page(const RunData& data, std::string_view source_name,
                             const RunComparison* comparison);

/// As above with the noise checks given: `own_noise` (of `data`) goes into a
/// "Measurement noise" note in the summary when there is no comparison, else
/// next to the threshold in the comparison section with `base_noise` (of the
/// baseline run). Either may be null to leave it out.
std::string render_html_page(const RunData& data, std::string_view source_name,
                             const RunComparison* comparison, const NoiseCheck* own_noise,
                             const NoiseCheck* base_noise);

/// Every name a chart or swatch of the page may show, for its PagePalette: each case's
/// config, and the KV method of "kv=method:params" configs (the Pareto chart's series).
std::vector<std::string> palette_names(const RunData& data);

}  // namespace attnbench::reports

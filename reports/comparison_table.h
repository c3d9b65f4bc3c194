// The run-vs-run section of the HTML report.
#pragma once

#include <string>

#include "noise_check.h"
#include "run_comparison.h"

namespace attnbench::reports {

/// Renders `cmp` as a <section id="comparison">: verdict counts, then a
/// sortable table with one row per matched case (class "v-faster", "v-slower"
/// or "v-same"; data-ratio, data-lo, data-hi with the ratio and its interval),
/// the interval drawn on a 0.5x..2x log bar, and the quality metrics' base ->
/// candidate values (class "q-worse" / "q-better" where they moved beyond
/// tolerance). Cases in only one of the runs are counted. All text is escaped.
/// Next to the threshold, the A/A false-alarm rate of each run given
/// (`base_noise`, `cand_noise`; either may be null) is shown.
std::string render_comparison_section(const RunComparison& cmp,
                                      const NoiseCheck* base_noise = nullptr,
                                      const NoiseCheck* cand_noise = nullptr);

}  // namespace attnbench::reports

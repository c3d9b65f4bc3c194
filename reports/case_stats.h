// Timing statistics of a case as a report shows them: the runner's stored
// metrics when present, else recomputed from the raw samples (older or
// partially written runs may lack the aggregate metrics).
#pragma once

#include <optional>
#include <string>

#include "report_data.h"

namespace attnbench::reports {

/// Median seconds per call: metric time_median, else the median of the samples.
std::optional<double> median_seconds(const CaseResult& c);

/// Median absolute deviation of seconds per call: metric time_mad, else from samples.
std::optional<double> mad_seconds(const CaseResult& c);

/// The shape without its context lengths (batch, heads, head dim, page size,
/// and len_q only when it differs from len_k): what must stay fixed along a
/// time-vs-length line. Empty fields are left out.
std::string shape_without_length(const CaseResult& c);

/// Share of the dense FLOP model that the kernel really computed: the stored
/// attended_fraction (attended / visible query-key pairs) of a sparse or approximate
/// variant, else 1. Their FLOPs are counted dense-equivalent, so achieved FLOP/s times
/// this factor is the rate of the work done, the one a roofline or a fraction of peak
/// may compare with the machine's peak.
double attended_work_factor(const CaseResult& c);

}  // namespace attnbench::reports

// How long one case may run in its worker before it is killed and stored as
// `timeout`. The default scales with the case's FLOP and byte models at a tenth of
// the device's measured peaks (far slower than any working kernel), on top of a
// fixed allowance for input generation and the fp64 check, so it is generous for a
// slow kernel and still finite for a hung one.
#pragma once

#include "attnbench/plugin_abi.h"
#include "case_spec.h"

namespace attnbench {

/// Seconds allowed to `spec`: `override_seconds` when > 0 (--case-timeout), else the
/// suite group's own limit when it set one, else the model-scaled default.
double case_timeout_seconds(const CaseSpec& spec, const ab_peaks& peaks, double override_seconds);

/// The model-scaled default limit for `spec` on a device with `peaks` (zero peaks:
/// conservative fixed rates are assumed).
double default_case_timeout(const CaseSpec& spec, const ab_peaks& peaks);

}  // namespace attnbench

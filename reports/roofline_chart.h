// The roofline: achieved FLOP/s against arithmetic intensity, under the roofs
// this run measured on this machine (not datasheet numbers).
#pragma once

#include <vector>

#include "report_data.h"
#include "svg_chart.h"

namespace attnbench::reports {

/**
 * One log-log roofline chart per (backend, device) that has a measured
 * flops_f32 or bytes_per_second peak and at least one ok case with model
 * flops, bytes and a time. Points: x = flops / bytes (FLOP/byte), y = the
 * case's flops_per_second metric (else flops / median time), one series per
 * config. Guides: the bandwidth slope bytes_per_second * intensity and the flat
 * compute roofs at flops_f32 and, when measured, flops_f16. Empty when no
 * backend qualifies.
 */
std::vector<LogLogChart> roofline_charts(const RunData& data);

}  // namespace attnbench::reports

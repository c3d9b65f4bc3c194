// Human-readable numbers for tables and chart ticks: one place decides how a
// time, a rate or a ratio reads, so the table and the chart axes agree.
#pragma once

#include <string>
#include <string_view>

namespace attnbench::reports {

/// Seconds with an SI prefix and 3 significant digits: "812 ns", "1.25 ms", "3.40 s".
/// `compact` drops trailing zeros ("5 ms", "2.5 ms"), for axis ticks.
std::string format_seconds(double seconds, bool compact = false);

/// A value with a decimal SI prefix before `unit`: (1.2e12, "FLOP/s") -> "1.20 TFLOP/s".
std::string format_si(double value, std::string_view unit);

/// A ratio as a percentage: 0.4312 -> "43.1%".
std::string format_percent(double ratio);

/// An error-like quantity in compact scientific form: 3.1e-7 -> "3.10e-07"; 0 -> "0".
std::string format_scientific(double value);

/// A context length for axis ticks: 4096 -> "4K", 131072 -> "128K", 1000 -> "1000".
std::string format_length(double length);

/// A metric value by its stored unit: s -> seconds; B, B/s, FLOP, FLOP/s -> SI
/// prefixes; anything else (ratio included) -> 4 significant digits and the unit.
std::string format_metric(double value, std::string_view unit);

}  // namespace attnbench::reports

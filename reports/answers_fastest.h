// The "fastest configuration" answer of the report's first screen: for every
// (phase, shape class, dtype, backend) the configuration with the smallest median
// time, per context length, merged over consecutive lengths with the same winner.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "report_data.h"

namespace attnbench::reports {

/// One winner over a run of consecutive measured lengths of one shape class.
struct FastestRow {
  std::string phase, shape_class, dtype, backend;
  std::string config;            // the winning configuration
  bool approximate = false;      // the winner is not an exact kernel (see efficiency.h)
  std::vector<int64_t> lengths;  // len_k values it wins, ascending (0: the case has none)
  double seconds = 0;            // its median seconds per call at the longest of `lengths`
  std::optional<double> peak_fraction;  // the larger of its fractions of peak FLOP/s and bandwidth there
  std::string peak_kind;                // "FLOP/s" or "bandwidth": which peak `peak_fraction` is of
  /// A bandwidth-bound winner whose bytes per call (working set) fit in the cache its
  /// backend declared (machine peak cache_bytes), timed warm: both sizes, so the answer
  /// can say its bandwidth is partly cache. 0 otherwise (or when timed with --cold).
  double working_set_bytes = 0, cache_bytes = 0;
  size_t rivals = 0;  // most configurations it beat at one of those lengths (0: it ran alone)
};

/**
 * The shape class of a case: its shape without the context length
 * (shape_without_length) plus ", causal" when the config's options say causal, since
 * a causal and a full mask do different work and must not compete.
 */
std::string shape_class(const CaseResult& c);

/**
 * Fastest configuration per (phase, shape class, dtype, backend) and length, over the
 * ok cases with a positive median time; KV-method cases ("kv=...") are left out as
 * they are answered per budget. Rows are ordered by phase, shape class, dtype,
 * backend, then length; a tie at one length goes to the case recorded first.
 */
std::vector<FastestRow> fastest_configs(const RunData& data);

/// The answer as HTML: a lead sentence and a table. All stored text is escaped.
std::string render_fastest_answer(const std::vector<FastestRow>& rows);

}  // namespace attnbench::reports

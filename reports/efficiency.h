// Efficiency of the approximate (sparse, linear, top-k, ...) variants against the
// exact kernel at the same shapes: per context length the speedup over the
// baseline and the error, and the "efficiency length" from which the variant
// wins on this machine. Computation and HTML section live here; nothing else in
// the report depends on it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "report_data.h"

namespace attnbench::reports {

/// One measured length of an approximate variant, with its baseline when found.
struct EfficiencyPoint {
  int64_t len_q = 0, len_k = 0;
  double variant_seconds = 0;               // median seconds per call of the variant
  std::optional<double> baseline_seconds;   // of the matching exact case, when one exists
  std::optional<double> speedup;            // baseline_seconds / variant_seconds
  std::optional<double> rel_error;          // the variant's rel_error metric
  std::optional<double> mass_kept;          // attention_mass_kept (one-hot probe), when measured
  std::optional<double> predicted_speedup;  // 1 / attended_fraction: what the sparsity alone allows
  std::string shape;                        // the variant case's shape string
};

/// One approximate configuration on one backend, dtype, phase and fixed shape
/// (batch, heads, head dim, page size, fixed len_q), across its measured lengths.
struct EfficiencyGroup {
  std::string suite, config, variant, backend, device, dtype, phase;
  bool causal = false;
  std::string fixed_shape;      // shape_without_length of its cases
  std::string baseline_config;  // config of the baseline found ("flash:causal"); empty: none
  std::vector<EfficiencyPoint> points;  // sorted by len_k, then len_q
  /// Smallest len_k from which the variant is faster than its baseline at every
  /// longer measured length (see efficiency_length()); empty when not reached or
  /// without any baseline.
  std::optional<int64_t> efficiency_length;
  /// Longest len_k measured with a baseline (0: no point has one).
  int64_t longest_compared = 0;
};

/// The exact variants every approximate one is measured against.
bool is_exact_variant(std::string_view variant);

/// True when the canonical config's option list (after the first ':') holds
/// the bare option "causal" ("sliding_window:causal,window=128:0" -> true).
bool config_is_causal(std::string_view config);

/**
 * The efficiency length of a sweep: given (len_k, speedup) pairs, the smallest
 * len_k L such that the speedup is > 1 at every measured point with len_k >= L
 * (several points at one length must all be faster). Empty when the longest
 * measured length is not faster (or `points` is empty). Order does not matter.
 */
std::optional<int64_t> efficiency_length(const std::vector<std::pair<int64_t, double>>& points);

/**
 * Groups the successful, timed cases of every approximate variant (variant not
 * reference / naive / flash / decode) of `data` by (suite, config, backend,
 * device, dtype, phase, fixed shape) and matches each case to its exact baseline:
 * a successful timed case of the same run with the same backend, device, dtype,
 * phase and shape (batch, heads_q, heads_kv, head_dim, page size, len_q, len_k),
 * whose config is "flash" / "flash:causal" with the variant's causal flag, or for
 * decode-phase cases "decode" / "decode:causal" (same causal flag preferred).
 * Among several, one from the same suite is preferred, then the first recorded.
 * Groups come sorted by suite, config, backend, dtype, phase, shape. Never throws
 * on odd data: missing lengths or times just leave a case out.
 */
std::vector<EfficiencyGroup> efficiency_groups(const RunData& data);

/// How a group's efficiency length reads: the length ("2048"), "not reached up to
/// L=8192", or an em dash when no point has a baseline. Not escaped.
std::string efficiency_length_text(const EfficiencyGroup& group);

/// The group's best measured speedup over its baseline (empty: no point has one).
std::optional<double> best_speedup(const EfficiencyGroup& group);

/// The group's largest rel_error against the oracle (empty: no point has one).
std::optional<double> worst_rel_error(const EfficiencyGroup& group);

/// <section id="approximate"> "Sparse and approximate variants": a summary
/// table, then per group a per-length table (speedup, rel_error) and a small
/// log-log chart of speedup vs length. Empty string when the run has no
/// approximate variant case. All text from the database is escaped.
std::string render_efficiency_section(const RunData& data);

}  // namespace attnbench::reports

// Per-head attention statistics that published work measured on real models, computed
// on a recall case (generated or a trace layer) so a report can show how model-like the
// data is (reports/calibration_section.h):
//   * sink_mass: attention on the first 4 tokens (StreamingLLM, Xiao et al. 2023);
//   * recent_mass: attention on the last 64 tokens up to the query (local windows);
//   * entropy: attention entropy in nats (PyramidKV, Cai et al. 2024: broad in lower
//     layers, concentrated in upper ones);
//   * norm_corr: Pearson correlation, over keys, between key L2 norm and the attention
//     the key receives (Devoto et al. 2024: negative; low-norm keys draw attention).
// Rows: up to kCalibrationRows context queries evenly spread over the second half of the
// context (each attends causally to keys 0..t), so the cost is rows x len_k per head.
#pragma once

#include <cstdint>
#include <vector>

#include "recall_generator.h"

namespace attnbench::trace {

inline constexpr int kCalibrationRows = 64;

/// Statistics of one query head (norm_corr: of its KV head, from its group's attention).
struct HeadStats {
  double sink_mass = 0, recent_mass = 0, entropy = 0, norm_corr = 0;
};

/// Per query head statistics of rc's context queries.
std::vector<HeadStats> head_statistics(const recall::RecallCase& rc);

/// Mean, min and max of one statistic over heads (and layers, when pooled).
struct StatSummary {
  double mean = 0, min = 0, max = 0;
  int64_t count = 0;
  /// Adds one value.
  void add(double x);
};

}  // namespace attnbench::trace

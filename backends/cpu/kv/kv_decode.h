// Decode over a compressed cache and the recall metrics of one case.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kv_method.h"
#include "recall_generator.h"

namespace attnbench::kv {

/// Output of decode over a (compressed) cache.
struct DecodeResult {
  std::vector<double> o;           ///< [heads_q, n_q, head_dim]
  std::vector<double> weight_sum;  ///< [heads_q * n_q]: sum of attention weights per row
  bool ok = false;
  std::string error;  ///< NaN/Inf, all-zero output, or weights not summing to 1
};

/// Exact attention of queries q [heads_q, n_q, head_dim] over every slot of the cache
/// (decode queries come after the prompt: no mask). fp64 accumulation when fp64, else
/// fp32 throughout. Validates the output (see DecodeResult::error).
DecodeResult decode_compressed(const CompressedCache& c, const float* q, int32_t heads_q, int32_t n_q, bool fp64 = true);

/// Metrics of one recall case under one compressed cache.
struct RecallMetrics {
  double accuracy = 0;        ///< fraction of (question, query head) rows decoded correctly
  double mass_kept = 0;       ///< mean over rows of exact full-cache attention on kept tokens
  double output_error = 0;    ///< ||O - O_full|| / ||O_full|| over all rows
  uint64_t kv_bytes = 0;      ///< bytes kept
  uint64_t full_bytes = 0;
  double compression_ratio = 0;
  double compress_seconds = 0, decode_seconds = 0;  ///< filled by run_recall_case
  bool ok = false;
  std::string error;
};

/// Decodes the case's questions over c and scores them against the full-cache decode.
RecallMetrics evaluate_recall(const recall::RecallCase& rc, const CompressedCache& c);

/// The prefilled cache of a case as a method input (pointers into rc).
KvInput kv_input(const recall::RecallCase& rc, int32_t layer = 0, int32_t num_layers = 1);

/// Compresses the case with method config, checks the budget (throws BudgetMismatch),
/// decodes and evaluates, timing both steps.
RecallMetrics run_recall_case(const recall::RecallCase& rc, const std::string& config);

}  // namespace attnbench::kv

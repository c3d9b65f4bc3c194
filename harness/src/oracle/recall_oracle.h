// The recall oracle: scores decode outputs of a compressed cache against the fp64
// full-cache reference on the host (recall accuracy, attention mass on the kept tokens,
// output error), and an fp64 decode over a set of kept slots for tests that check a
// backend's compacted decode. Independent of any backend.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "recall_generator.h"

namespace attnbench::kv {

/// Metrics of one recall case under one compressed cache.
struct RecallMetrics {
  double accuracy = 0;        ///< fraction of (question, query head) rows decoded correctly
  double mass_kept = 0;       ///< mean over rows of exact full-cache attention on kept tokens
  double output_error = 0;    ///< ||O - O_full|| / ||O_full|| over all rows
  /// Mean over rows of the fraction of full attention's top-k tokens kept (k =
  /// kTopkOverlapK, at most len_k): whether the method keeps what exact attention reads most.
  double topk_overlap = 0;
  bool has_accuracy = false;  ///< false for cases without code words (real traces)
  uint64_t kv_bytes = 0;      ///< bytes kept
  uint64_t full_bytes = 0;
  double compression_ratio = 0;
  double compress_seconds = 0, decode_seconds = 0;  ///< filled by the executor
  bool ok = false;
  std::string error;          ///< NaN/Inf or an all-zero output row
};

/// k of RecallMetrics::topk_overlap.
inline constexpr int kTopkOverlapK = 32;

/// Scores decode outputs o [heads_q, n_questions, head_dim] of case rc, whose KV head j
/// kept positions kept[j] (-1: a synthetic slot, which holds no full-cache mass), against
/// the fp64 full-cache oracle. Leaves the byte fields zero. A case without code words
/// (a trace layer) gets no accuracy (has_accuracy false).
/// `read_from`: the case (another layer, same shape) whose K the decoded cache holds,
/// when it is not rc's own (cla's shared cache); nullptr = rc. Then rc's questions read
/// other keys at the kept positions, and the metrics compare two distributions over
/// positions: mass kept = sum over t of min(p_own(t), p_read(t)), the share of the
/// layer's own full attention that the read attention reproduces at the same positions
/// (for a subset of rc's own cache, p_read = p_own / mass on the kept tokens, so this is
/// the usual mass kept; the approximate variants' mass kept is the same sum of minima),
/// and top-k overlap = |top-k(p_own) and top-k(p_read)| / k.
RecallMetrics score_recall(const recall::RecallCase& rc, const std::vector<std::vector<int32_t>>& kept,
                           const std::vector<float>& o, const recall::RecallCase* read_from = nullptr);

/// fp64 decode of the case's questions over the kept slots of every KV head (no mask; a
/// -1 slot is the mean K and V of the tokens the head drops; channels whose mask byte is
/// 0 are zero in K). mask: [heads_kv, head_dim] or empty. Returns [heads_q, n_q, head_dim].
std::vector<double> reference_decode(const recall::RecallCase& rc, const std::vector<std::vector<int32_t>>& kept,
                                     const std::vector<uint8_t>& mask = {});

}  // namespace attnbench::kv

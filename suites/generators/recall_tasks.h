// RULER-style recall tasks (Hsieh et al. 2024) and MQAR (Arora et al. 2023, Zoology) as
// layouts for the structured recall generator, plus the context-length x depth grid.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "recall_generator.h"

namespace attnbench::recall {

enum class RecallTask {
  single_needle,  ///< one needle, one question (RULER NIAH single)
  multi_key,      ///< n_needles needles with different keys; one is asked (RULER MK)
  multi_value,    ///< one key, n_values needles; all values must be retrieved (RULER MV)
  multi_query,    ///< n_needles needles, every one asked (RULER MQ)
  passkey,        ///< one needle in a periodic (repeated-filler) haystack
  mqar            ///< n_pairs key-value pairs spread over the context, n_queries asked
};

/// Parameters of a task; fields not used by a task are ignored.
struct TaskParams {
  RecallTask task = RecallTask::single_needle;
  int32_t len_k = 1024;
  double depth = 0.5;        ///< Depth of the (first/asked) needle, 0..1.
  int32_t n_needles = 4;     ///< multi_key / multi_query.
  int32_t n_values = 2;      ///< multi_value.
  int32_t n_pairs = 64;      ///< mqar: sweep past head_dim.
  int32_t n_queries = 8;     ///< mqar: asked subset size.
  int32_t passkey_period = 16;  ///< passkey: filler period in tokens.
};

/// Name of a task ("single_needle", ...).
std::string task_name(RecallTask t);
/// Inverse of task_name; throws std::invalid_argument on an unknown name.
RecallTask parse_task(const std::string& name);

/// Layout (needles + questions) of a task; knobs may be adjusted (passkey period,
/// distractors off for mqar, codebook large enough).
RecallLayout make_layout(const TaskParams& p, RecallKnobs& knobs);

/// Generates one task case.
RecallCase make_task(const TaskParams& p, RecallKnobs knobs);

/// One cell of the needle heatmap.
struct GridCell {
  int32_t len_k;
  double depth;
};

/// Context length x depth grid; depths evenly spaced over [0, 1] (n_depths >= 2).
std::vector<GridCell> depth_grid(const std::vector<int32_t>& lengths, int32_t n_depths);

}  // namespace attnbench::recall

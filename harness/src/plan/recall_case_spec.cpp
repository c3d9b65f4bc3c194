#include "recall_case_spec.h"

#include <fmt/format.h>

namespace attnbench {

std::string RecallCaseSpec::data_shape() const {
  using recall::RecallTask;
  if (is_trace()) return trace_shape;
  std::string s = fmt::format("task={},lk={}", recall::task_name(task.task), task.len_k);
  if (has_depth) s += fmt::format(",depth={:g}", task.depth);
  // Only the counts the task reads go in, so equal data always has an equal shape string.
  switch (task.task) {
    case RecallTask::multi_key:
    case RecallTask::multi_query: s += fmt::format(",needles={}", task.n_needles); break;
    case RecallTask::multi_value: s += fmt::format(",values={}", task.n_values); break;
    case RecallTask::passkey: s += fmt::format(",period={}", task.passkey_period); break;
    case RecallTask::mqar: s += fmt::format(",pairs={},queries={}", task.n_pairs, task.n_queries); break;
    case RecallTask::single_needle: break;
  }
  s += fmt::format(",hq={},hkv={},d={}", knobs.heads_q, knobs.heads_kv, knobs.head_dim);
  if (!knob_overrides.empty()) s += "," + knob_overrides;
  if (layers > 1) s += fmt::format(",layers={}", layers);
  return s;
}

std::string RecallCaseSpec::shape() const {
  std::string s = data_shape();
  if (judge_layer >= 0) s += fmt::format(",judge_layer={}", judge_layer);
  if (compress_before_question) s += ",compress_before_question=1";
  return s;
}

}  // namespace attnbench

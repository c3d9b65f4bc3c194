#include "recall_case_spec.h"

#include <fmt/format.h>

namespace attnbench {

std::string RecallCaseSpec::shape() const {
  using recall::RecallTask;
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
  return s;
}

}  // namespace attnbench

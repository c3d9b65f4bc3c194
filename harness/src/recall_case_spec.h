// One recall case: a structured recall task (suites/generators/recall_tasks.h) and the
// KV-cache method that compresses its prefilled cache (backends/cpu/kv). Kept apart from
// the suite parser so CaseSpec can hold one without pulling in JSON.
#pragma once

#include <string>

#include "recall_tasks.h"

namespace attnbench {

/// Everything needed to generate a recall case and run one KV method on it.
struct RecallCaseSpec {
  recall::TaskParams task;    ///< task, len_k, depth and the task's counts
  recall::RecallKnobs knobs;  ///< heads, head_dim and generator overrides (seed set at run time)
  std::string knob_overrides; ///< "k=v,..." of knobs the suite changed (part of the shape)
  std::string method;         ///< canonical KV config, e.g. "snapkv:budget=256,window=32,pool=7,elem_bytes=2"
  /// The method as the suite wrote it, without the budget axis applied: --budget rebuilds
  /// from it, since defaults derived from the budget (h2o's recent) must follow the new one.
  std::string method_entry;
  int budget = 0;             ///< token budget given to the method; 0 when the method takes none
  bool has_depth = true;      ///< false for tasks whose needles are not placed at `depth` (mqar)

  /// Config column: "kv=" + method, so a KV config never collides with an attention variant.
  std::string config() const { return "kv=" + method; }
  /// Canonical shape: task, length, depth, heads, d and every task count or knob that
  /// changes the generated data, e.g. "task=single_needle,lk=1024,depth=0.2,hq=4,hkv=2,d=64".
  std::string shape() const;
  /// Method name (the config before ':').
  std::string method_name() const { return method.substr(0, method.find(':')); }
};

}  // namespace attnbench

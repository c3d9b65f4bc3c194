// One recall case: a structured recall task (suites/generators/recall_tasks.h) and either
// the KV-cache method that compresses its prefilled cache (harness/src/kv, on the backend's KV primitives) or the
// attention variant that answers its questions on a backend. Kept apart from the suite
// parser so CaseSpec can hold one without pulling in JSON.
#pragma once

#include <string>

#include "recall_tasks.h"

namespace attnbench {

/// Everything needed to generate a recall case and run one KV method or attention variant on it.
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
  /// Canonical attention variant config (e.g. "topk_decode:k=64") for a variant case, which
  /// runs the questions through a backend kernel instead of a KV method; empty for KV cases.
  std::string variant;
  /// Query-agnostic compression (suite key "compress_before_question"): the cache is
  /// compressed from the context alone and the questions decode over it afterwards
  /// (recall::RecallKnobs::question_in_prompt = false). Part of the shape, not of the data:
  /// both settings of a cell see the same K, V and questions.
  bool compress_before_question = false;
  /// Requested compression ratio (fraction of the cache removed, kvpress's meaning) that
  /// set `budget` = round((1 - ratio) * len_k); negative when the budget was given in tokens.
  double compression_ratio = -1;
  /// Layers per case (the "layers" axis): each generated with recall::layer_knobs, the
  /// method run on every layer with its index (pyramidkv's per-layer budgets).
  int32_t layers = 1;
  /// Layer whose accuracy is the case's recall_accuracy (group key "judge_layer"); -1 = last.
  int32_t judge_layer = -1;
  /// Trace case (suite kind "trace", --trace): the trace folder and its canonical shape
  /// (trace::TraceInfo::shape()); the task fields then only carry len_k = question_start.
  std::string trace_dir, trace_shape;

  /// True for a case on a real attention trace.
  bool is_trace() const { return !trace_dir.empty(); }
  /// The judged layer: judge_layer, or the last one.
  int32_t judged_layer() const { return judge_layer >= 0 ? judge_layer : layers - 1; }

  /// True for an attention-variant case (method and budget are then unused).
  bool is_variant() const { return !variant.empty(); }
  /// Config column: the variant config, or "kv=" + method, so a KV config never collides
  /// with an attention variant and reports group both alike.
  std::string config() const { return is_variant() ? variant : "kv=" + method; }
  /// Canonical shape: task, length, depth, heads, d and every task count or knob that
  /// changes the generated data, e.g. "task=single_needle,lk=1024,depth=0.2,hq=4,hkv=2,d=64".
  std::string shape() const;
  /// The shape without the settings that leave the generated data unchanged
  /// (compress_before_question): the case hash comes from it.
  std::string data_shape() const;
  /// Method name (the config before ':'); empty for a variant case.
  std::string method_name() const { return method.substr(0, method.find(':')); }
  /// Variant name (the variant config before ':'); empty for a KV case.
  std::string variant_name() const { return variant.substr(0, variant.find(':')); }
};

}  // namespace attnbench

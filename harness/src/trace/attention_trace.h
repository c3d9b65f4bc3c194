// Real attention traces (issue 15): a folder holding trace.json
//   {"model": "...", "layers": N, "heads_q": H, "heads_kv": G, "head_dim": D,
//    "rope_applied": true, "question_start": T}
// and layer_0/ ... layer_{N-1}/ each with q.npy [H, len, D], k.npy and v.npy [G, len, D]
// (float32 or float16; scripts/capture_trace.py writes them). Positions [0, T) are the
// context, [T, len) the question or generated tokens. A trace layer becomes a recall case
// without code words: the cache of the context is compressed from its own queries, and
// the question queries decode over it (they attend the context only, in the compressed
// and in the full reference alike, so the error measures compression alone).
#pragma once

#include <cstdint>
#include <string>

#include "recall_generator.h"

namespace attnbench::trace {

/// trace.json, checked, plus the length found in layer 0.
struct TraceInfo {
  std::string dir, model;
  int32_t layers = 0, heads_q = 0, heads_kv = 0, head_dim = 0;
  bool rope_applied = true;
  int32_t question_start = 0;  ///< T
  int32_t len = 0;             ///< tokens per layer (from the arrays)
  /// Canonical case shape, e.g. "trace=llama-dump,model=meta-llama/...,layers=2,hq=4,hkv=2,d=64,len=96,qstart=80".
  std::string shape() const;
};

/// Reads trace.json of `dir` and the headers of every layer's q/k/v (shapes, dtypes,
/// sizes): a refusal is one std::invalid_argument line naming the file at fault.
TraceInfo check_trace(const std::string& dir);

/// Loads layer `layer` of a checked trace as a recall case: q_context/k/v over the
/// context [0, T), q_question = the queries at [T, len) (at most `max_questions` of them,
/// the first ones; 0 = all), no code words (score_recall then skips accuracy).
recall::RecallCase load_trace_layer(const TraceInfo& info, int32_t layer, int32_t max_questions = 0);

}  // namespace attnbench::trace

// Runs one recall case through an attention variant instead of a KV method: the task's
// questions become decode queries of a backend kernel (one sequence per question, one
// query row at the end of the context), and the outputs are scored like the KV path's:
// recall accuracy, output error against full attention, attention mass kept. Like
// execute_case it never throws for a case-level problem; the outcome is the status.
#pragma once

#include <cstdint>

#include "case_executor.h"
#include "case_inputs.h"
#include "case_spec.h"
#include "recall_tasks.h"
#include "results_store.h"

namespace attnbench {

/// A recall task as one attention call: batch = questions, len_q = 1, fp32.
struct RecallAttention {
  Shape shape;
  HostInputs host;  ///< q [B, Hq, 1, d] = the question rows; k, v = the task's K/V per batch element
};

/// Lays out the questions of `rc` as an attention call. Each question is its own sequence
/// whose single query row sits after the whole context, so bottom-right aligned causal or
/// windowed masks see the keys a decode step would see.
RecallAttention recall_attention_inputs(const recall::RecallCase& rc);

/// Executes the variant recall case `spec` (spec.recall->is_variant()) on the slot's
/// device: "no_device" without one, "unsupported" with the plugin's reason, "failed" on
/// NaN/Inf outputs, else metrics recall_accuracy, output_error_vs_full,
/// attention_mass_kept, attended_fraction and a Google Benchmark timing.
store::CaseRecord execute_recall_variant_case(const CaseSpec& spec, BackendSlot& slot, uint64_t seed);

}  // namespace attnbench

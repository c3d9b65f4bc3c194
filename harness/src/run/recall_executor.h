// Runs one KV-method recall case on the worker's backend: generates the task with the
// run's seed, runs the method's policy over the backend's KV primitives, checks its
// plan, builds and decodes the compressed cache there, and scores the downloaded output
// against the fp64 full-cache oracle on the host. Like execute_case it never throws for
// a case-level problem: a backend without KV primitives is "unsupported", one without a
// device "no_device", a budget mismatch, NaN/Inf or an all-zero output "failed",
// anything unexpected "error", each with a one-line message.
#pragma once

#include <cstdint>
#include <string>

#include "case_executor.h"
#include "case_spec.h"
#include "kv_plan_executor.h"
#include "recall_oracle.h"
#include "recall_tasks.h"
#include "results_store.h"

namespace attnbench {

/// Layer `layer` (-1: the judged layer) of a recall case under `seed`: generated with
/// recall::layer_knobs and the case's compress_before_question setting, or loaded from
/// its trace (cached: the cases of one task cell share it). The reference stays valid
/// until the next call with another shape, seed or layer.
const recall::RecallCase& recall_task_data(const RecallCaseSpec& r, uint64_t seed, int32_t layer = -1);

/// Executes the KV-method recall case `spec` (spec.recall set) on the slot's backend and
/// returns the record to store.
store::CaseRecord execute_recall_case(const CaseSpec& spec, BackendSlot& slot, uint64_t seed);

/// Why a recall outcome must not pass (empty when it may): the budget check, then the
/// decode validation and any non-finite metric. Separate so tests can feed it failures.
std::string recall_failure(const kv::BudgetCheck& budget, const kv::RecallMetrics& metrics);

}  // namespace attnbench

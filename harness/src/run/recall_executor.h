// Runs one recall case: generates the task with the run's seed, compresses its cache
// with the KV method, checks the budget, decodes the questions and scores them. Like
// execute_case it never throws for a case-level problem: a budget mismatch, NaN/Inf,
// an all-zero output or attention weights not summing to 1 make the case "failed",
// anything unexpected "error", each with a one-line message.
#pragma once

#include <cstdint>
#include <string>

#include "case_executor.h"
#include "case_spec.h"
#include "kv_decode.h"
#include "kv_method.h"
#include "recall_tasks.h"
#include "results_store.h"

namespace attnbench {

/// The generated task of a recall case under `seed` (cached: the cases of one task cell
/// share it). The reference stays valid until the next call with another shape or seed.
const recall::RecallCase& recall_task_data(const RecallCaseSpec& r, uint64_t seed);

/// Executes the KV-method recall case `spec` (spec.recall set) and returns the record to store.
/// The KV methods run in-process on the host, so `slot` only names the device.
store::CaseRecord execute_recall_case(const CaseSpec& spec, const BackendSlot& slot, uint64_t seed);

/// Why a recall outcome must not pass (empty when it may): the budget check, then the
/// decode validation and any non-finite metric. Separate so tests can feed it failures.
std::string recall_failure(const kv::BudgetCheck& budget, const kv::RecallMetrics& metrics);

}  // namespace attnbench

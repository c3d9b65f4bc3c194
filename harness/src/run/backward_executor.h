// Runs one backward case (suite phase "backward"): Q, K, V and dO from the case's seed,
// O and LSE from the oracle (untimed), one checked call on poisoned gradients against
// the fp64 oracle, then the timed calls. Never throws for a case-level problem.
#pragma once

#include <cstdint>

#include "backward_model.h"
#include "case_executor.h"

namespace attnbench {

/// Executes backward case `spec` on the slot's backend and returns the record to store
/// (phase "backward"; `unsupported` with the reason for a plugin without run_backward,
/// an ABI v1 plugin, or a case its backward refuses).
store::CaseRecord execute_backward_case(const CaseSpec& spec, BackendSlot& slot, InputCache& cache, uint64_t seed);

}  // namespace attnbench

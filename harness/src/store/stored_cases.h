// What --resume needs to know about the cases a run already stored: each case's
// status, and a way to forget the crashed or timed-out ones that --retry-failed runs
// again. Free functions over the store's connection, so the store's interface stays
// about writing and reading records.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "results_store.h"

namespace attnbench::store {

/// case_key -> status of every case stored for `run_id`.
std::map<std::string, std::string> stored_case_statuses(ResultsStore& db, int64_t run_id);

/// Deletes the cases `keys` of `run_id` with their samples and metrics, in one transaction.
void forget_cases(ResultsStore& db, int64_t run_id, const std::vector<std::string>& keys);

}  // namespace attnbench::store

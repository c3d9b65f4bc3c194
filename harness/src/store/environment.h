// Provenance of a run: source revision, build, libraries, host and devices.
#pragma once

#include <string>
#include <vector>

#include "results_store.h"

namespace attnbench {

/// Fills the provenance fields of a run record from this process and machine.
store::RunRecord capture_environment();

/// Name/value pairs for `attnbench env`, in display order.
std::vector<std::pair<std::string, std::string>> environment_table(const store::RunRecord& r);

}  // namespace attnbench

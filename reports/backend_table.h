// The same case on different backends, side by side.
#pragma once

#include <string>

#include "report_data.h"

namespace attnbench::reports {

/// A sortable table with one row per (suite, config, shape, dtype, phase) that
/// ran ok on two or more backends (backend@device where one backend has several
/// devices): the median time on each, and each one's ratio to the first backend
/// column (alphabetical; > 1 means slower than it). The fastest cell of a row is
/// marked class "best". Returns "" when no case ran on more than one backend.
std::string render_backend_table(const RunData& data);

}  // namespace attnbench::reports

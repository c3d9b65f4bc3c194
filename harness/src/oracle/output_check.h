// Compares a kernel's output with the fp64 oracle: relative L2 error over the
// checked rows, plus a count of non-finite values (the output is poisoned with NaN
// before each run, so an unwritten element shows up as non-finite).
#pragma once

#include <cstdint>
#include <vector>

#include "case_inputs.h"
#include "reference_attention.h"

namespace attnbench {

/// Outcome of one comparison against the oracle.
struct CheckResult {
  double rel_error = 0;       // ||O - O_ref||_2 / ||O_ref||_2 over checked rows
  double max_abs_error = 0;
  int64_t nonfinite = 0;      // NaN/Inf in valid rows (unwritten or overflowed)
  int64_t rows_checked = 0;
};

/// Rows a check looks at: every valid row (kFull, kNone), or up to `max_rows` of them
/// for kSampled (the first and last rows always, the rest drawn from `seed`).
std::vector<RowId> checked_rows(const Shape& shape, const ab_attention_args& args, CheckMode mode, uint64_t seed,
                                int max_rows = 64);

/// Checks `output` (raw bytes in the storage dtype, layout of Q) against the oracle.
/// kSampled checks up to `max_rows` rows spread over batch, heads and positions.
CheckResult check_output(const VariantConfig& cfg, const Shape& shape, const HostInputs& host,
                         const std::vector<uint8_t>& output, CheckMode mode, uint64_t seed, int max_rows = 64);

}  // namespace attnbench

// Compares a backward call's gradients with the fp64 oracle: relative L2 error of dQ, dK
// and dV over the checked rows, plus a count of non-finite values (the gradients are
// poisoned with NaN before the call, so an unwritten element shows up as non-finite).
#pragma once

#include <cstdint>
#include <vector>

#include "backward_inputs.h"
#include "case_inputs.h"

namespace attnbench {

/// Outcome of one gradient comparison.
struct GradientCheck {
  double rel_dq = 0, rel_dk = 0, rel_dv = 0;  // ||g - g_ref||_2 / ||g_ref||_2 per tensor
  double max_abs_error = 0;
  int64_t nonfinite = 0;        // NaN/Inf anywhere in dQ, dK, dV
  int64_t rows_checked = 0;     // dQ rows compared
  int64_t keys_checked = 0;     // dK / dV rows compared
  /// The largest of the three relative errors.
  double worst() const;
};

/// Checks raw gradients (storage dtype, layouts of Q and K) against the oracle: every
/// element (kFull, the whole fp64 backward), up to `max_rows` query rows and key rows
/// (kSampled: first and last always, the rest drawn from `seed`; per-row oracles that
/// never materialise len_q x len_k), or only their finiteness (kNone).
GradientCheck check_gradients(const Shape& shape, const ab_attention_args& args, const HostInputs& host,
                              const BackwardHostInputs& bwd, const std::vector<uint8_t>& dq,
                              const std::vector<uint8_t>& dk, const std::vector<uint8_t>& dv, CheckMode mode,
                              uint64_t seed, int max_rows = 64);

}  // namespace attnbench

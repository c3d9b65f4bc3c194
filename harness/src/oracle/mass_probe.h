// Attention mass kept by a kernel, measured from the outside: every variant here is
// linear in V (output row i = sum_j w_ij v_j with weights w that do not depend on V),
// so running it with one-hot values (v_j = e_{j - c0} for keys j in [c0, c0 + d), zero
// elsewhere) reads the weights w_ij of d keys per run back from the output. Comparing
// them with the exact softmax p_ij gives, per row,
//   mass kept = sum_j min(w_ij, p_ij),
// which for a variant that renormalises softmax over a selected key set S (w = p / p(S)
// on S, 0 elsewhere) is exactly p(S), the mass of the keys it kept; for any other
// approximation it is the overlap 1 - TV(w, p) of the two distributions. The support of
// w counts the keys a row really attended, which gives the measured density and the
// speedup its sparsity predicts. Works on every backend through the plugin ABI.
#pragma once

#include <cstdint>
#include <span>

#include "backend.h"
#include "case_inputs.h"
#include "reference_attention.h"

namespace attnbench {

/// Outcome of probing one configuration.
struct MassProbeResult {
  double mass_kept = 0;          ///< mean over probed rows of sum_j min(w_ij, p_ij)
  double attended_fraction = 0;  ///< keys with w_ij != 0 / keys visible, summed over rows
  int64_t rows = 0;              ///< rows probed
  int runs = 0;                  ///< kernel runs it took (ceil(len_k / dv))
};

/// Number of kernel runs probe_attention_mass needs for `shape`.
int mass_probe_runs(const Shape& shape);

/// Runs configuration `cfg` on `backend` with `host`'s Q and K and one-hot values and
/// measures, over `rows`, the attention mass kept and the attended fraction, against the
/// exact softmax under `reference` (default: key_mask(cfg), the oracle's mask). Throws
/// BackendError on a failing run.
MassProbeResult probe_attention_mass(Backend& backend, const VariantConfig& cfg, const Shape& shape,
                                     const HostInputs& host, std::span<const RowId> rows,
                                     const KeyMask* reference = nullptr);

}  // namespace attnbench

// The attention variants the harness knows, with their FLOP and byte models, so
// every timing turns into FLOP/s, bytes/s and a fraction of the measured peaks.
#pragma once

#include <span>
#include <string>

#include "case_spec.h"
#include "reference_attention.h"

namespace attnbench {

/// What the harness knows about a variant, independent of any backend.
struct VariantInfo {
  const char* name;
  const char* description;
  bool exact;          // must match the oracle within the dtype threshold
  bool timed;          // false for the oracle itself
  /// Variant-specific options (beyond causal/window/softcap), e.g. {"k", "block"} for a
  /// block top-k variant; they travel to backends in the kernel string (kernel_name()).
  std::span<const char* const> options = {};
};

/// All known variants, in display order.
std::span<const VariantInfo> all_variants();

/// The entry for `name`, or nullptr.
const VariantInfo* find_variant(std::string_view name);

/// Keys each query row of `cfg` sees, as the oracle judges them: the causal/window mask,
/// or the draft-tree mask for `tree` (option branch, default 2).
KeyMask key_mask(const VariantConfig& cfg);

/// Number of (query, key) pairs the mask leaves visible, summed over batch and query heads.
double visible_pairs(const VariantConfig& cfg, const Shape& shape, const int* seq_len_q, const int* seq_len_k);

/// Floating-point operations of one call: 2*(d + dv) per visible pair (QK^T and PV).
double model_flops(const VariantConfig& cfg, const Shape& shape, const int* seq_len_q, const int* seq_len_k);

/// Minimum bytes one call must move: Q, K, V read once, O written once (mla: K only).
double model_bytes(const VariantConfig& cfg, const Shape& shape, const int* seq_len_q, const int* seq_len_k);

}  // namespace attnbench

// Work and traffic models of a backward case (suite phase "backward"), for FLOP/s,
// bytes/s and the default timeout.
#pragma once

#include "case_spec.h"

namespace attnbench {

/// The suite phase whose cases run the variant's backward pass.
inline constexpr const char* kBackwardPhase = "backward";

/// FLOPs of one backward call: 2.5x the forward's model (FlashAttention's count: five
/// d-long products per visible pair, S and dP recomputed, dV, dK, dQ, against two).
double backward_model_flops(const VariantConfig& cfg, const Shape& shape);

/// Minimum bytes one backward call moves: Q, K, V, O, dO read once, dQ, dK, dV written once.
double backward_model_bytes(const Shape& shape);

}  // namespace attnbench

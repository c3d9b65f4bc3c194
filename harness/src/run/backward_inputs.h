// Inputs of a backward case beyond Q, K, V: the upstream gradient dO (seeded like the
// forward inputs), and O and LSE computed by the fp64 oracle, untimed, so that a
// backward result never depends on the plugin's own forward. Plus their device copies
// and the gradient outputs.
#pragma once

#include <cstdint>
#include <vector>

#include "case_inputs.h"

namespace attnbench {

/// Host side: fp32 values after rounding to the storage dtype (dO, O), fp32 LSE, and the
/// oracle's fp64 O and LSE (the sampled gradient check reads them).
struct BackwardHostInputs {
  std::vector<float> d_o, o, lse;
  std::vector<double> o_exact, lse_exact;
};

/// dO of `shape` under `seed` (its own random stream), O and LSE from the oracle over
/// `host` (rows split between threads).
BackwardHostInputs make_backward_inputs(const Shape& shape, uint64_t seed, const HostInputs& host,
                                        const ab_attention_args& args);

/// Device buffers of a backward call; the gradients are poisoned with NaN bytes.
struct DeviceBackwardInputs {
  DeviceInputs fwd;  // Q, K, V, O (holding the oracle's O)
  DeviceBuffer lse, d_o, d_q, d_k, d_v;
  ab_backward_args args{};
  size_t q_bytes = 0, kv_bytes = 0;
};

/// Uploads everything a backward call reads and allocates what it writes.
DeviceBackwardInputs upload_backward_inputs(Backend& backend, const VariantConfig& cfg, const Shape& shape,
                                            const HostInputs& host, const BackwardHostInputs& bwd);

/// Refills dQ, dK, dV with NaN bytes (before the checked call).
void poison_gradients(Backend& backend, DeviceBackwardInputs& d);

}  // namespace attnbench

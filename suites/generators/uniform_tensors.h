// Unstructured inputs for correctness and performance cases: i.i.d. normal Q/K/V.
#pragma once

#include <cstdint>
#include <vector>

#include "counter_rng.h"

namespace attnbench::gen {

/// Tensor ids within a case's streams.
enum TensorId : uint64_t { kTensorQ = 1, kTensorK = 2, kTensorV = 3, kTensorAux = 4 };

/// Fills n normal(0, stddev) values of one tensor stream, in parallel, deterministically.
void fill_normal(const StreamKey& key, float stddev, float* out, uint64_t n);

}  // namespace attnbench::gen

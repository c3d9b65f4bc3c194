// The machine_peaks rows of one backend's measured peaks.
#pragma once

#include <cstdint>

#include "results_store.h"
#include "run_supervisor.h"

namespace attnbench {

/// Stores `b`'s peaks for `run_id`: flops_f32 and bytes_per_second always, flops_f16,
/// flops_bf16 and cache_bytes (the device's last-level cache, unit B) where measured.
void store_peaks(store::ResultsStore& db, int64_t run_id, const SupervisedBackend& b);

}  // namespace attnbench

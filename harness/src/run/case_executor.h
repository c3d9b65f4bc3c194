// Runs one case on one backend: inputs, capability check, poisoned output,
// oracle check, Google Benchmark timing, metrics. Never throws for a case-level
// problem: the outcome is recorded as the case's status and message.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "attnbench/plugin_abi.h"
#include "backend.h"
#include "case_inputs.h"
#include "case_spec.h"
#include "results_store.h"

namespace attnbench {

/// Per-backend context the executor needs: the plugin's table (null when none was
/// loaded), the open device (null when the backend has none) and the peaks measured at
/// the start of the run.
struct BackendSlot {
  std::string name;
  const ab_plugin* table = nullptr;  // KV cases ask it for primitives even without a device
  std::unique_ptr<Backend> device;  // null: no device
  std::string no_device_reason;
  ab_peaks peaks{};
};

/// Keeps the most recently generated inputs, since consecutive cases usually share a shape.
/// With a shared folder (set_shared_dir), inputs another worker saved there are read
/// instead of generated, and inputs generated here are saved for the next worker.
class InputCache {
 public:
  const HostInputs& get(const Shape& shape, uint64_t seed);
  /// Folder shared with other workers of the run (input_file.h); empty: none.
  void set_shared_dir(std::string dir) { shared_dir_ = std::move(dir); }

 private:
  std::string key_, shared_dir_;
  HostInputs inputs_;
};

/// Times `kernel` on `args` on the slot's device with Google Benchmark (the case's
/// repetitions and min_time; a --cold case flushes the caches before each call, untimed,
/// makes at most kMaxColdCallsPerRepetition calls per repetition and records
/// cold_flush_bytes) and records the samples, time_median/min/mad and the
/// harness overhead per call in `rec`. Returns the median seconds per call, or 0 after
/// recording the timing error in `rec`; a failed --cold flush or probe call throws
/// BackendError like any backend call.
double record_kernel_timing(const CaseSpec& spec, BackendSlot& slot, const std::string& kernel,
                            const ab_attention_args& args, store::CaseRecord& rec);

/// The same for any timed call (a backward pass): `call` returns the backend-measured
/// seconds of one call.
double record_call_timing(const CaseSpec& spec, BackendSlot& slot, const std::function<double()>& call,
                          store::CaseRecord& rec);

/// Adds time_median, time_min and time_mad of rec.samples (seconds per call); returns the median.
double add_time_metrics(store::CaseRecord& rec);

/// Adds FLOP/s, bytes/s and the fractions of `peaks` at `median` seconds per call, from
/// the record's FLOP and byte models (nothing when it has none).
void add_throughput_metrics(store::CaseRecord& rec, double median, const ab_peaks& peaks, ab_dtype dtype);

/// The identity columns of the record `spec` produces on `device` (status ok, no
/// metrics yet): what every executor starts from and what the supervisor stores for
/// a case whose worker crashed or timed out.
store::CaseRecord describe_case(const CaseSpec& spec, const std::string& device);

/// Executes `spec` and returns the record to store.
store::CaseRecord execute_case(const CaseSpec& spec, BackendSlot& backend, InputCache& inputs, uint64_t seed);

}  // namespace attnbench

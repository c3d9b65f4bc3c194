#include "case_timeout.h"

#include <algorithm>

#include "backward_model.h"
#include "cold_flush.h"
#include "dtype_peak.h"
#include "variant_registry.h"

namespace attnbench {
namespace {

// Rates assumed when no peak was measured (--no-peaks): well below a laptop core.
constexpr double kFallbackFlops = 2e10, kFallbackBytes = 2e9;
// A kernel a tenth as fast as the peak still finishes; a hung one does not.
constexpr double kSlowdownAllowed = 10.0;
// Input generation, the fp64 oracle's sampled rows, the plugin's own setup.
constexpr double kFixedAllowance = 60.0;
// The mass probe's budget (case_executor.cpp) plus Google Benchmark's calibration calls.
constexpr double kProbeAndCalibration = 3.0 + 1.0;
// Host rate assumed for the fp64 oracle's forward of a backward case (one core, scalar).
constexpr double kOracleFlops = 5e8;

/// Seconds one call may take at the slowed-down rates.
double slow_call_seconds(double flops, double bytes, const ab_peaks& peaks, ab_dtype dtype) {
  double fpeak = dtype_peak_flops(peaks, dtype);
  if (!(fpeak > 0)) fpeak = kFallbackFlops;
  const double bpeak = peaks.bytes_per_second > 0 ? peaks.bytes_per_second : kFallbackBytes;
  return kSlowdownAllowed * (flops / fpeak + bytes / bpeak);
}

/// FLOPs and bytes of one recall case: the cache is prefilled and scored by the method
/// (an attention pass over the context, as h2o's column sums are) and then decoded.
void recall_work(const RecallCaseSpec& r, double& flops, double& bytes) {
  const double lk = r.task.len_k, hq = r.knobs.heads_q, hkv = r.knobs.heads_kv, d = r.knobs.head_dim;
  flops = 4.0 * hq * lk * lk * d;
  bytes = 2.0 * hkv * lk * d * 4.0 * 16;  // K and V in fp32, read by each question's decode
}

}  // namespace

double default_case_timeout(const CaseSpec& spec, const ab_peaks& peaks) {
  double flops = 0, bytes = 0;
  ab_dtype dtype = AB_F32;
  if (spec.recall) {
    recall_work(*spec.recall, flops, bytes);
  } else if (spec.phase == kBackwardPhase) {
    flops = backward_model_flops(spec.config, spec.shape);
    bytes = backward_model_bytes(spec.shape);
    dtype = spec.shape.dtype;
  } else {
    flops = model_flops(spec.config, spec.shape, nullptr, nullptr);
    bytes = model_bytes(spec.config, spec.shape, nullptr, nullptr);
    dtype = spec.shape.dtype;
  }
  // A backward case first runs the fp64 oracle's forward (O and LSE) on the host: allow
  // 0.5 GFLOP/s of the forward's work for it.
  const double oracle = spec.phase == kBackwardPhase ? flops / 2.5 / kOracleFlops : 0.0;
  const double call = slow_call_seconds(flops, bytes, peaks, dtype);
  // One checked call, then each repetition runs at least min_time of kernel time.
  const double timed = spec.phase == "correctness" ? 0 : spec.repetitions * std::max(spec.min_time * kSlowdownAllowed, call);
  // --cold: every timed call (and the probe call) first writes the flush buffer; allow
  // for 1 GB/s, a slow write with the buffer's first-touch page faults.
  const double flushes = spec.cold ? spec.repetitions * kMaxColdCallsPerRepetition + 1.0 : 0.0;
  const double flush = flushes * static_cast<double>(cold_flush_bytes(spec, peaks)) / 1e9;
  return kFixedAllowance + kProbeAndCalibration + oracle + call * 2 + timed + flush;
}

double case_timeout_seconds(const CaseSpec& spec, const ab_peaks& peaks, double override_seconds) {
  if (override_seconds > 0) return override_seconds;
  if (spec.timeout_seconds > 0) return spec.timeout_seconds;
  return default_case_timeout(spec, peaks);
}

}  // namespace attnbench

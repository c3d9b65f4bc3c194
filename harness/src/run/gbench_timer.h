// Times one case through Google Benchmark: RegisterBenchmark with manual time (the
// backend measures its own kernel time), repetitions, and a reporter that keeps
// every repetition's sample instead of printing.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace attnbench {

/// One repetition: iterations Google Benchmark chose and seconds per call.
struct TimingSample {
  int repetition;
  int64_t iterations;
  double seconds;
};

/// All repetitions of one case plus what the harness spent around the kernel.
struct TimingResult {
  std::vector<TimingSample> samples;
  std::string error;              // non-empty if a call failed
  double kernel_seconds = 0;      // sum of backend-measured times over every call
  double wall_seconds = 0;        // wall time of the whole timing phase
  double prepare_seconds = 0;     // time in the `prepare` step before each call (--cold's flush)
  int64_t calls = 0;              // kernel calls, including Google Benchmark's calibration
  /// Harness time per call beyond the kernel (loop, plugin call, timer reads), not
  /// counting the prepare step the user asked for.
  double overhead_per_call() const {
    return calls ? (wall_seconds - kernel_seconds - prepare_seconds) / calls : 0;
  }
};

/// Runs `call` (returns backend-measured seconds; throws on failure) as one Google
/// Benchmark case: `repetitions` repetitions of at least `min_time` kernel seconds each.
/// `prepare`, when set, runs before every call, untimed (e.g. a cache flush; it may throw
/// like `call`). `iterations` > 0 fixes the calls per repetition instead of min_time.
TimingResult time_case(const std::string& name, int repetitions, double min_time, const std::function<double()>& call,
                       const std::function<void()>& prepare = {}, int64_t iterations = 0);

/// Whether a reported Google Benchmark run failed, and its message. Google Benchmark 1.8
/// replaced `Run::error_occurred` / `error_message` with `Run::skipped` (an enum whose
/// zero is `NotSkipped`) / `skip_message`. Its headers expose no version macro (1.7.1 and
/// 1.8+ alike), so the member itself is detected; both branches are compiled by
/// tests/test_gbench_compat.cpp. The harness only calls SkipWithError, so any skip is an error.
template <class Run>
bool benchmark_run_failed(const Run& r, std::string& message) {
  if constexpr (requires { r.skipped; r.skip_message; }) {
    if (r.skipped == decltype(r.skipped){}) return false;
    message = r.skip_message;
  } else {
    if (!r.error_occurred) return false;
    message = r.error_message;
  }
  return true;
}

}  // namespace attnbench

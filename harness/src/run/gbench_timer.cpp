#include "gbench_timer.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>

namespace attnbench {
namespace {

/// Collects iteration runs (one per repetition); aggregates are recomputed from samples.
class SampleCollector : public benchmark::BenchmarkReporter {
 public:
  explicit SampleCollector(TimingResult& out) : out_(out) {}
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration) continue;
      if (benchmark_run_failed(r, out_.error)) continue;
      // With UseManualTime, real_accumulated_time is the sum of SetIterationTime values.
      out_.samples.push_back({static_cast<int>(r.repetition_index), static_cast<int64_t>(r.iterations),
                              r.real_accumulated_time / static_cast<double>(r.iterations)});
    }
  }

 private:
  TimingResult& out_;
};

}  // namespace

TimingResult time_case(const std::string& name, int repetitions, double min_time, const std::function<double()>& call,
                       const std::function<void()>& prepare, int64_t iterations) {
  TimingResult result;
  auto* bench = benchmark::RegisterBenchmark(name.c_str(), [&](benchmark::State& state) {
    for (auto _ : state) {
      double seconds = 0;
      try {
        if (prepare) {
          const auto p0 = std::chrono::steady_clock::now();
          prepare();
          result.prepare_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - p0).count();
        }
        seconds = call();
      } catch (const std::exception& e) {
        state.SkipWithError(e.what());
        break;
      }
      state.SetIterationTime(seconds);
      result.kernel_seconds += seconds;
      ++result.calls;
    }
  });
  // Google Benchmark insists on a positive minimum; 0 in a suite means "one call per repetition".
  bench->UseManualTime()->Repetitions(repetitions)->Unit(benchmark::kMillisecond);
  if (iterations > 0)
    bench->Iterations(iterations);
  else
    bench->MinTime(std::max(min_time, 1e-9));
  SampleCollector collector(result);
  const auto t0 = std::chrono::steady_clock::now();
  benchmark::RunSpecifiedBenchmarks(&collector);
  result.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  benchmark::ClearRegisteredBenchmarks();
  return result;
}

}  // namespace attnbench

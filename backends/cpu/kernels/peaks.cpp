// Machine peaks of the current task arena's threads, measured (not from datasheets):
// fp32 FMA, bf16 dot-product and fp16 FMA throughput, and sustained memory read
// bandwidth over a buffer well beyond the last-level cache. Each is the best of several
// trials, because the machine may be shared and the first trial also pays for waking
// the worker threads and faulting pages in. The loops are the active ISA level's
// (peak_measurement.cpp); this file is level-independent.
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <new>
#include <string>
#include <utility>

#include "attnbench/host_cache.h"
#include "cpu_kernels.h"
#include "isa_table.h"
#if defined(AB_CPU_HAVE_FP16_PEAK)
#include "peak_fp16.h"
#endif

namespace attnbench::cpu {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

volatile float g_sink;

/// Best FLOP/s of `loop` run on every thread of the arena, `flops_per_iter` each.
double time_loop(void (*loop)(long), double flops_per_iter, int trials, double seconds_per_trial) {
  const int threads = tbb::this_task_arena::max_concurrency();
  long iters = 1 << 16;  // calibrated on one thread
  for (;;) {
    const auto t0 = Clock::now();
    loop(iters);
    const double dt = seconds_since(t0);
    if (dt > 0.005) { iters = static_cast<long>(iters * seconds_per_trial / dt) + 1; break; }
    iters *= 4;
  }
  double best = 0;
  for (int t = 0; t < trials; ++t) {
    const auto t0 = Clock::now();
    tbb::parallel_for(0, threads, [&](int) { loop(iters); }, tbb::simple_partitioner());
    const double dt = seconds_since(t0);
    best = std::max(best, flops_per_iter * iters * threads / dt);
  }
  return best;
}


}  // namespace

double measure_peak_flops(int trials, double seconds_per_trial) {
  const IsaKernels& k = active_kernels();
  return time_loop(k.fma_f32_loop, k.fma_f32_flops_per_iter(), trials, seconds_per_trial);
}

double measure_peak_flops_bf16(int trials, double seconds_per_trial) {
  const IsaKernels& k = active_kernels();
  if (!k.dot_bf16_loop) return 0.0;
  return time_loop(k.dot_bf16_loop, k.dot_bf16_flops_per_iter(), trials, seconds_per_trial);
}

double measure_peak_flops_f16(int trials, double seconds_per_trial) {
#if defined(AB_CPU_HAVE_FP16_PEAK)
  // Not capped by ATTNBENCH_CPU_ISA beyond avx512: no kernel level uses FP16 arithmetic.
  __builtin_cpu_init();
  if (active_isa() >= Isa::avx512 && __builtin_cpu_supports("avx512fp16"))
    return time_loop(fp16_peak::fma_loop, fp16_peak::kFlopsPerIter, trials, seconds_per_trial);
#else
  (void)trials;
  (void)seconds_per_trial;
#endif
  return 0.0;
}

size_t last_level_cache_bytes() { return host_last_level_cache_bytes(); }

size_t bandwidth_buffer_bytes() {
  const size_t llc4 = 4 * last_level_cache_bytes();
  size_t bytes = std::max(llc4, size_t(512) << 20);
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0) {
    const size_t mem = static_cast<size_t>(pages) * static_cast<size_t>(page);
    // Stay well inside memory: a quarter by default, half when 4x the LLC needs it.
    bytes = std::min(bytes, std::max(mem / 4, std::min(llc4, mem / 2)));
  }
  return bytes / 4096 * 4096;
}

double measure_peak_read_bandwidth(size_t bytes, int passes) {
  if (bytes == 0) bytes = bandwidth_buffer_bytes();
  const IsaKernels& k = active_kernels();
  const int threads = tbb::this_task_arena::max_concurrency();
  const size_t n = bytes / sizeof(float) / 64 * 64;
  float* data = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
  if (!data) throw std::bad_alloc();
  auto slice = [&](int t) { return std::pair<size_t, size_t>(n * t / threads / 64 * 64, n * (t + 1) / threads / 64 * 64); };
  // First touch by the thread that later reads the slice (page placement). Every page
  // gets distinct contents: pages of identical bytes can be merged by the hypervisor
  // (KSM) into one physical page that then stays in cache, and the "bandwidth" seen
  // was twice the real one on such a VM.
  tbb::parallel_for(0, threads, [&](int t) {
    const auto [b, e] = slice(t);
    for (size_t i = b; i < e; ++i) data[i] = static_cast<float>(i);
  }, tbb::simple_partitioner());
  double best = 0;
  for (int p = 0; p < passes; ++p) {
    const auto t0 = Clock::now();
    tbb::parallel_for(0, threads, [&](int t) {
      const auto [b, e] = slice(t);
      g_sink = k.sum_stream(data + b, e - b);
    }, tbb::simple_partitioner());
    const double dt = seconds_since(t0);
    best = std::max(best, n * sizeof(float) / dt);
  }
  std::free(data);
  return best;
}

CpuPeaks measure_peaks() {
  CpuPeaks p;
  p.flops_f32 = measure_peak_flops();
  p.flops_bf16 = measure_peak_flops_bf16();
  p.flops_f16 = measure_peak_flops_f16();
  p.bandwidth_bytes = static_cast<double>(bandwidth_buffer_bytes());
  p.bytes_per_second = measure_peak_read_bandwidth(static_cast<size_t>(p.bandwidth_bytes));
  return p;
}

}  // namespace attnbench::cpu

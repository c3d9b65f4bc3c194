// Machine peaks of the current task arena's threads, measured (not from datasheets):
// fp32 FMA throughput and sustained memory read bandwidth. Each is the best of
// several trials, because the machine may be shared and the first trial also pays
// for waking the worker threads and faulting pages in.
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <new>

#include "cpu_kernels.h"
#include "simd16.h"

namespace attnbench::cpu {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

volatile float g_sink;  // keeps the measured loops from being optimised away

// Independent accumulator chains: enough to cover FMA latency (4) x 2 pipes twice.
constexpr int kChains = 16;
#if defined(AB_CPU_AVX512)
constexpr int kLanes = 16;
#elif defined(AB_CPU_AVX2)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 1;
#endif
constexpr double kFlopsPerIter = 2.0 * kChains * kLanes;

/// Runs `iters` iterations of kChains independent vector FMAs on this thread.
void fma_loop(long iters) {
#if defined(AB_CPU_AVX512)
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(0.001f * i);
  const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-6f);
  for (long n = 0; n < iters; ++n) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
  }
  __m512 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, acc[i]);
  g_sink = _mm512_reduce_add_ps(s);
#elif defined(AB_CPU_AVX2)
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(0.001f * i);
  const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-6f);
  for (long n = 0; n < iters; ++n) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
  }
  __m256 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm256_add_ps(s, acc[i]);
  alignas(32) float t[8];
  _mm256_store_ps(t, s);
  g_sink = t[0] + t[7];
#else
  float acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = 0.001f * i;
  for (long n = 0; n < iters; ++n)
    for (int i = 0; i < kChains; ++i) acc[i] = acc[i] * 0.999999f + 1e-6f;  // no FMA unit assumed
  float s = 0;
  for (float v : acc) s += v;
  g_sink = s;
#endif
}

/// Sum of n floats with several vector accumulators (a pure read stream).
float sum_stream(const float* p, size_t n) {
  V16 a0 = v_zero(), a1 = v_zero(), a2 = v_zero(), a3 = v_zero();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    a0 = v_add(a0, v_load(p + i));
    a1 = v_add(a1, v_load(p + i + 16));
    a2 = v_add(a2, v_load(p + i + 32));
    a3 = v_add(a3, v_load(p + i + 48));
  }
  float s = v_reduce_add(v_add(v_add(a0, a1), v_add(a2, a3)));
  for (; i < n; ++i) s += p[i];
  return s;
}

}  // namespace

double measure_peak_flops(int trials, double seconds_per_trial) {
  const int threads = tbb::this_task_arena::max_concurrency();
  // Calibrate the iteration count on one thread.
  long iters = 1 << 16;
  for (;;) {
    const auto t0 = Clock::now();
    fma_loop(iters);
    const double dt = seconds_since(t0);
    if (dt > 0.005) { iters = static_cast<long>(iters * seconds_per_trial / dt) + 1; break; }
    iters *= 4;
  }
  double best = 0;
  for (int t = 0; t < trials; ++t) {
    const auto t0 = Clock::now();
    tbb::parallel_for(0, threads, [&](int) { fma_loop(iters); }, tbb::simple_partitioner());
    const double dt = seconds_since(t0);
    best = std::max(best, kFlopsPerIter * iters * threads / dt);
  }
  return best;
}

double measure_peak_read_bandwidth(size_t bytes, int passes) {
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
      g_sink = sum_stream(data + b, e - b);
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
  p.bytes_per_second = measure_peak_read_bandwidth();
  return p;
}

}  // namespace attnbench::cpu

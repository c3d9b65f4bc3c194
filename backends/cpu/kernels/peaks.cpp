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
#include <filesystem>
#include <fstream>
#include <new>
#include <set>
#include <string>
#include <utility>

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

/// "32768K", "1M", "512" (bytes) as bytes; 0 if unparsable.
size_t parse_cache_size(const std::string& s) {
  char* end = nullptr;
  const unsigned long long n = std::strtoull(s.c_str(), &end, 10);
  if (end == s.c_str()) return 0;
  const char unit = *end;
  const size_t mul = unit == 'K' ? 1024 : unit == 'M' ? 1024 * 1024 : unit == 'G' ? size_t(1) << 30 : 1;
  return static_cast<size_t>(n) * mul;
}

std::string read_line(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::string s;
  std::getline(in, s);
  return s;
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

size_t last_level_cache_bytes() {
  namespace fs = std::filesystem;
  std::error_code ec;
  int top = 0;
  size_t total = 0;
  std::set<std::string> seen;  // shared_cpu_list of each counted cache
  for (const auto& cpu : fs::directory_iterator("/sys/devices/system/cpu", ec)) {
    const std::string name = cpu.path().filename().string();
    if (name.rfind("cpu", 0) != 0 || name.size() < 4 || name.find_first_not_of("0123456789", 3) != std::string::npos)
      continue;
    std::error_code ec2;
    for (const auto& idx : fs::directory_iterator(cpu.path() / "cache", ec2)) {
      if (idx.path().filename().string().rfind("index", 0) != 0) continue;
      const std::string type = read_line(idx.path() / "type");
      if (type != "Unified" && type != "Data") continue;
      const int level = std::atoi(read_line(idx.path() / "level").c_str());
      const size_t size = parse_cache_size(read_line(idx.path() / "size"));
      if (level < top || size == 0) continue;
      if (level > top) { top = level; total = 0; seen.clear(); }
      if (seen.insert(read_line(idx.path() / "shared_cpu_list")).second) total += size;
    }
  }
  return total;
}

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

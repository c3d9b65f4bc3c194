// attnbench_cpu_bench: tuning bench of the CPU kernels (not a test). Measures the
// peaks first, then reports FLOP/s and bytes/s of flash (fp32/bf16, d=128, causal
// prefill) and decode (fp32/bf16, GQA 4, long KV far beyond the L3), each with its
// fraction of the measured peak. The harness measures the same through its suites.
//
//   attnbench_cpu_bench [--benchmark_filter=...] [--threads=N]
#include <benchmark/benchmark.h>
#include <tbb/global_control.h>
#include <tbb/task_arena.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "attnbench/dtype.h"
#include "cpu_kernels.h"

namespace {

using namespace attnbench;

cpu::CpuPeaks g_peaks;
std::unique_ptr<tbb::task_arena> g_arena;

/// Host tensor with random contents in the case's storage type.
struct Tensor {
  std::vector<unsigned char> bytes;
  Tensor(size_t n, ab_dtype t, unsigned seed) : bytes(n * dtype_size(t)) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> f(std::min<size_t>(n, 1 << 20));
    for (float& x : f) x = u(rng);
    // Tile a 1M-element random block: generating 100M+ values would dominate start-up.
    for (size_t off = 0; off < n; off += f.size())
      encode(t, f.data(), bytes.data() + off * dtype_size(t), std::min(f.size(), n - off));
  }
  ab_buffer buf() { return reinterpret_cast<ab_buffer>(bytes.data()); }
};

void run_case(benchmark::State& state, const char* variant, ab_attention_args a) {
  const size_t nq = static_cast<size_t>(a.batch) * a.heads_q * a.len_q * a.head_dim;
  const size_t nkv = static_cast<size_t>(a.batch) * a.heads_kv * a.len_k * a.head_dim;
  Tensor q(nq, a.dtype, 1), k(nkv, a.dtype, 2), v(nkv, a.dtype, 3), o(nq, a.dtype, 4);
  a.q = q.buf(); a.k = k.buf(); a.v = v.buf(); a.o = o.buf();
  if (cpu::Check c = cpu::supports(variant, a); !c.ok()) {
    state.SkipWithError(c.reason.c_str());
    return;
  }
  for (auto _ : state) g_arena->execute([&] { cpu::run_variant(variant, a); });
  const double flops = cpu::attention_flops(a), bytes = cpu::attention_bytes(a);
  using C = benchmark::Counter;
  state.counters["FLOP/s"] = C(flops, C::kIsIterationInvariantRate);
  state.counters["bytes/s"] = C(bytes, C::kIsIterationInvariantRate);
  state.counters["frac_peak_flops"] = C(flops / g_peaks.flops_f32, C::kIsIterationInvariantRate);
  state.counters["frac_peak_bw"] = C(bytes / g_peaks.bytes_per_second, C::kIsIterationInvariantRate);
}

ab_attention_args make_args(ab_dtype t, int batch, int hq, int hkv, int lq, int lk, int d, bool causal) {
  ab_attention_args a{};
  a.batch = batch; a.heads_q = hq; a.heads_kv = hkv; a.len_q = lq; a.len_k = lk; a.head_dim = d;
  a.dtype = t; a.causal = causal; a.window_left = -1; a.window_right = -1;
  a.scale = 1.0f / std::sqrt(static_cast<float>(d));
  return a;
}

void register_all() {
  for (ab_dtype t : {AB_F32, AB_BF16}) {
    const std::string dn = dtype_name(t);
    benchmark::RegisterBenchmark(("flash/" + dn + "/d128/L4096/causal/H8").c_str(), run_case, "flash",
                                 make_args(t, 1, 8, 8, 4096, 4096, 128, true))
        ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
    benchmark::RegisterBenchmark(("flash/" + dn + "/d128/L4096/full/H8").c_str(), run_case, "flash",
                                 make_args(t, 1, 8, 8, 4096, 4096, 128, false))
        ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
    for (int lk : {8192, 32768}) {
      benchmark::RegisterBenchmark(("decode/" + dn + "/d128/B8/Hkv8/gqa4/Lq1/Lk" + std::to_string(lk)).c_str(),
                                   run_case, "decode", make_args(t, 8, 32, 8, 1, lk, 128, true))
          ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
    }
    benchmark::RegisterBenchmark(("decode/" + dn + "/d128/B4/Hkv8/gqa4/Lq4/Lk16384").c_str(), run_case,
                                 "decode", make_args(t, 4, 32, 8, 4, 16384, 128, true))
        ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
  }
  benchmark::RegisterBenchmark("naive/fp32/d128/L2048/causal/H8", run_case, "naive",
                               make_args(AB_F32, 1, 8, 8, 2048, 2048, 128, true))
      ->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("flash/fp32/d128/L2048/causal/H8", run_case, "flash",
                               make_args(AB_F32, 1, 8, 8, 2048, 2048, 128, true))
      ->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) {
  int threads = tbb::this_task_arena::max_concurrency();
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) threads = std::atoi(argv[i] + 10);
    else rest.push_back(argv[i]);
  }
  int rest_argc = static_cast<int>(rest.size());
  g_arena = std::make_unique<tbb::task_arena>(threads);
  g_arena->execute([] { g_peaks = cpu::measure_peaks(); });
  std::printf("threads: %d\npeak fp32: %.1f GFLOP/s\npeak read bandwidth: %.2f GB/s\n", threads,
              g_peaks.flops_f32 * 1e-9, g_peaks.bytes_per_second * 1e-9);
  benchmark::AddCustomContext("peak_flops_f32", std::to_string(g_peaks.flops_f32));
  benchmark::AddCustomContext("peak_bytes_per_second", std::to_string(g_peaks.bytes_per_second));
  benchmark::Initialize(&rest_argc, rest.data());
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

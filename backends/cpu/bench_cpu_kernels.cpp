// attnbench_cpu_bench: tuning bench of the CPU kernels (not a test). Measures the
// peaks first, then reports FLOP/s and bytes/s of flash (fp32/bf16, d=128, causal
// prefill) and decode (fp32/bf16, GQA 4, long KV far beyond the L3), each with its
// fraction of the measured peak (fp32, and the peak of its own dtype: frac_dtype_peak).
// The harness measures the same through its suites.
// The KV primitives: observation_scores as h2o runs it (every prompt row, causal: a
// full causal QK^T pass that emits column sums; FLOPs count the 2d of each visible
// logit), one online call (one row over a 256-key subset per head: per-call cost), and
// quant_decode over kivi-2bit and int8 caches (bytes = the quantised cache read once).
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
#include "kv_isa.h"
#include "kv_primitives.h"

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
  // The fraction of the peak of the case's own dtype (as the harness reports it).
  const double own = a.dtype == AB_BF16 && g_peaks.flops_bf16 > 0   ? g_peaks.flops_bf16
                     : a.dtype == AB_F16 && g_peaks.flops_f16 > 0 ? g_peaks.flops_f16
                                                                   : g_peaks.flops_f32;
  state.counters["frac_dtype_peak"] = C(flops / own, C::kIsIterationInvariantRate);
}

ab_attention_args make_args(ab_dtype t, int batch, int hq, int hkv, int lq, int lk, int d, bool causal) {
  ab_attention_args a{};
  a.batch = batch; a.heads_q = hq; a.heads_kv = hkv; a.len_q = lq; a.len_k = lk; a.head_dim = d;
  a.dtype = t; a.causal = causal; a.window_left = -1; a.window_right = -1;
  a.scale = 1.0f / std::sqrt(static_cast<float>(d));
  return a;
}

/// observation_scores over n_obs rows (the last n_obs of the prompt), causal; `subset`
/// keys per head (0 = every key).
void run_scores(benchmark::State& state, int hq, int hkv, int L, int d, int n_obs, int subset) {
  std::mt19937 rng(5);
  std::normal_distribution<float> N(0.0f, 1.0f);
  std::vector<float> k(static_cast<size_t>(hkv) * L * d), q(static_cast<size_t>(hq) * L * d);
  for (float& x : k) x = N(rng);
  for (float& x : q) x = N(rng);
  std::vector<int32_t> pos(n_obs), keys, count(hkv, subset);
  for (int r = 0; r < n_obs; ++r) pos[r] = L - n_obs + r;
  for (int j = 0; j < hkv; ++j)
    for (int i = 0; i < subset; ++i) keys.push_back(static_cast<int32_t>(static_cast<int64_t>(i) * L / subset));
  std::vector<float> scores(static_cast<size_t>(hkv) * L);
  ab_kv_score_args a{};
  a.heads_q = hq, a.heads_kv = hkv, a.len_k = L, a.head_dim = d;
  a.k = reinterpret_cast<ab_buffer>(k.data()), a.q = reinterpret_cast<ab_buffer>(q.data());
  a.q_rows = L, a.row0 = L - n_obs, a.n_obs = n_obs, a.q_pos = pos.data();
  if (subset) a.keys = keys.data(), a.key_count = count.data(), a.keys_stride = subset;
  a.row_reduce = AB_KV_SUM, a.group_reduce = AB_KV_SUM, a.pool = 1, a.scale = 1.0f / std::sqrt(static_cast<float>(d));
  a.scores = reinterpret_cast<ab_buffer>(scores.data());
  if (cpu::Check c = cpu::kv::validate(a); !c.ok()) {
    state.SkipWithError(c.reason.c_str());
    return;
  }
  for (auto _ : state) g_arena->execute([&] { cpu::kv::run(a); });
  double pairs = 0;  // visible (row, key) logits
  for (int r = 0; r < n_obs; ++r) pairs += subset ? subset : std::min(L, pos[r] + 1);
  pairs *= hq;
  const double flops = 2.0 * d * pairs;
  using C = benchmark::Counter;
  state.counters["FLOP/s"] = C(flops, C::kIsIterationInvariantRate);
  state.counters["logits/s"] = C(pairs, C::kIsIterationInvariantRate);
  state.counters["frac_peak_flops"] = C(flops / g_peaks.flops_f32, C::kIsIterationInvariantRate);
}

/// quant_decode of n_q queries per head over a quantised cache of L tokens per head.
void run_quant_decode(benchmark::State& state, ab_kv_quant_spec spec, int hq, int hkv, int L, int d, int n_q) {
  std::mt19937 rng(6);
  std::normal_distribution<float> N(0.0f, 1.0f);
  std::vector<float> k(static_cast<size_t>(hkv) * L * d), v(k.size()), q(static_cast<size_t>(hq) * n_q * d), o(q.size());
  for (float& x : k) x = N(rng);
  for (float& x : v) x = N(rng);
  for (float& x : q) x = N(rng);
  ab_kv_quant_args qa{hkv, L, d, spec, nullptr, reinterpret_cast<ab_buffer>(k.data()), reinterpret_cast<ab_buffer>(v.data()), nullptr};
  if (cpu::Check c = cpu::kv::validate(qa, false); !c.ok()) {
    state.SkipWithError(c.reason.c_str());
    return;
  }
  const size_t bytes = cpu::kv::quant_cache_bytes(qa);
  std::vector<unsigned char> cache(bytes);
  qa.out = reinterpret_cast<ab_buffer>(cache.data());
  g_arena->execute([&] { cpu::kv::run(qa); });
  ab_kv_quant_decode_args a{hq, hkv, L, d, spec, nullptr, qa.out, reinterpret_cast<ab_buffer>(q.data()), n_q,
                            1.0f / std::sqrt(static_cast<float>(d)), reinterpret_cast<ab_buffer>(o.data())};
  for (auto _ : state) g_arena->execute([&] { cpu::kv::run(a); });
  const double moved = static_cast<double>(bytes) + 2.0 * q.size() * sizeof(float);
  const double flops = 4.0 * d * static_cast<double>(hq) * n_q * L;
  using C = benchmark::Counter;
  state.counters["bytes/s"] = C(moved, C::kIsIterationInvariantRate);
  state.counters["fp32_equiv_bytes/s"] = C(2.0 * k.size() * sizeof(float), C::kIsIterationInvariantRate);
  state.counters["frac_peak_bw"] = C(moved / g_peaks.bytes_per_second, C::kIsIterationInvariantRate);
  state.counters["frac_peak_flops"] = C(flops / g_peaks.flops_f32, C::kIsIterationInvariantRate);
}

void register_kv() {
  benchmark::RegisterBenchmark("kv/observation_scores/h2o_full_causal/d128/L4096/Hq8/Hkv2", run_scores, 8, 2, 4096, 128, 4096, 0)
      ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
  benchmark::RegisterBenchmark("kv/observation_scores/snapkv_window32/d128/L4096/Hq8/Hkv2", run_scores, 8, 2, 4096, 128, 32, 0)
      ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.5);
  benchmark::RegisterBenchmark("kv/observation_scores/online_1row_256keys/d128/Hq8/Hkv2", run_scores, 8, 2, 4096, 128, 1, 256)
      ->Unit(benchmark::kMicrosecond)->UseRealTime()->MinTime(0.5);
  const ab_kv_quant_spec kivi2{2, 2, AB_KV_PER_CHANNEL, AB_KV_PER_TOKEN, 32, 32, 0, 128};
  const ab_kv_quant_spec int8{8, 8, AB_KV_PER_TOKEN, AB_KV_PER_TOKEN, 0, 0, 1, 0};
  for (int L : {4096, 32768}) {
    benchmark::RegisterBenchmark(("kv/quant_decode/kivi2/d128/Hq32/Hkv8/Lq1/Lk" + std::to_string(L)).c_str(),
                                 run_quant_decode, kivi2, 32, 8, L, 128, 1)
        ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.5);
    benchmark::RegisterBenchmark(("kv/quant_decode/int8/d128/Hq32/Hkv8/Lq1/Lk" + std::to_string(L)).c_str(),
                                 run_quant_decode, int8, 32, 8, L, 128, 1)
        ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.5);
  }
}

void register_all() {
  register_kv();
  // The issue-14 goal shape: prefill d=128, L=4096, causal, 8 query / 2 KV heads, each dtype.
  for (ab_dtype t : {AB_F32, AB_BF16, AB_F16})
    benchmark::RegisterBenchmark(("flash/" + std::string(dtype_name(t)) + "/d128/L4096/causal/H8/Hkv2").c_str(),
                                 run_case, "flash", make_args(t, 1, 8, 2, 4096, 4096, 128, true))
        ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
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
  std::printf("threads: %d\nkernel ISA level: %s (best %s)\npeak fp32: %.1f GFLOP/s\npeak bf16: %.1f GFLOP/s\n"
              "peak fp16: %.1f GFLOP/s\npeak read bandwidth: %.2f GB/s over %.0f MiB (LLC %.0f MiB)\n",
              threads, cpu::isa_name(cpu::active_isa()), cpu::isa_name(cpu::best_isa()), g_peaks.flops_f32 * 1e-9,
              g_peaks.flops_bf16 * 1e-9, g_peaks.flops_f16 * 1e-9, g_peaks.bytes_per_second * 1e-9,
              g_peaks.bandwidth_bytes / (1 << 20), cpu::last_level_cache_bytes() / double(1 << 20));
  std::printf("kv primitives ISA level: %s\n", cpu::kv::isa_name(cpu::kv::active_isa()));
  benchmark::AddCustomContext("kv_isa", cpu::kv::isa_name(cpu::kv::active_isa()));
  benchmark::AddCustomContext("kernel_isa", cpu::isa_name(cpu::active_isa()));
  benchmark::AddCustomContext("peak_flops_f32", std::to_string(g_peaks.flops_f32));
  benchmark::AddCustomContext("peak_flops_bf16", std::to_string(g_peaks.flops_bf16));
  benchmark::AddCustomContext("peak_bytes_per_second", std::to_string(g_peaks.bytes_per_second));
  benchmark::Initialize(&rest_argc, rest.data());
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

// The vector helpers the CPU kernels rely on: exp2 and tanh accuracy (including
// the -inf and large-argument edges the softmax feeds them), the 16-way
// transpose-add, masks, and the peak measurements' FLOP / byte models. simd16.h is
// header code: this file is built once per ISA level (tests/CMakeLists.txt), and a
// build for a level this CPU lacks exits 77 (skipped) before any test runs.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cpu_kernels.h"
#include "simd16.h"

using namespace attnbench;
using namespace attnbench::cpu;

namespace {

/// Exits 77 when this build's level (AB_CPU_ISA_NAME) is above what the CPU supports.
/// Asked of the CPU itself (cpu_isa), not of the kernels' dispatch (best_isa): a build with the
/// kernels at one level (ATTNBENCH_CPU_ISA_DISPATCH=OFF) still tests the vector layer at
/// every level the CPU has.
const bool kLevelAvailable = [] {
  bool ok = false;
  for (Isa i : {Isa::generic, Isa::avx2, Isa::avx512, Isa::avx512bf16})
    if (i <= cpu_isa() && std::strcmp(isa_name(i), AB_CPU_ISA_NAME) == 0) ok = true;
  if (!ok) std::exit(77);
  return ok;
}();

std::vector<float> lanes(V16 v) {
  std::vector<float> out(16);
  v_store(out.data(), v);
  return out;
}

}  // namespace

TEST_CASE("v_exp2: relative error below 3e-7 on the softmax range, 0 for -inf", "[cpu][simd]") {
  double worst = 0;
  for (float x = -100.0f; x <= 20.0f; x += 0.01234f) {
    const std::vector<float> y = lanes(v_exp2(v_set1(x)));
    const double ref = std::exp2(static_cast<double>(x));
    worst = std::max(worst, std::fabs(y[0] - ref) / ref);
  }
  CHECK(worst < 3e-7);
  CHECK(lanes(v_exp2(v_set1(-INFINITY)))[0] == 0.0f);
  CHECK(lanes(v_exp2(v_set1(-1000.0f)))[0] == 0.0f);
  CHECK(lanes(v_exp2(v_set1(0.0f)))[0] == 1.0f);
}

TEST_CASE("v_tanh: accurate near zero and saturating for large arguments", "[cpu][simd]") {
  double worst = 0;
  for (float x = -12.0f; x <= 12.0f; x += 0.003f) {
    const double ref = std::tanh(static_cast<double>(x));
    const double y = lanes(v_tanh(v_set1(x)))[0];
    worst = std::max(worst, std::fabs(y - ref) / std::max(std::fabs(ref), 1e-30));
  }
  CHECK(worst < 1e-6);
  CHECK(lanes(v_tanh(v_set1(1e-6f)))[0] == Approx(1e-6).epsilon(1e-6));
  CHECK(lanes(v_tanh(v_set1(200.0f)))[0] == 1.0f);
  CHECK(lanes(v_tanh(v_set1(-200.0f)))[0] == -1.0f);
}

TEST_CASE("v_reduce16: lane j holds the sum of input vector j", "[cpu][simd]") {
  V16 in[16];
  float expect[16];
  for (int j = 0; j < 16; ++j) {
    float buf[16];
    expect[j] = 0;
    for (int i = 0; i < 16; ++i) {
      buf[i] = static_cast<float>(j * 100 + i);
      expect[j] += buf[i];
    }
    in[j] = v_load(buf);
  }
  const std::vector<float> out = lanes(v_reduce16(in));
  for (int j = 0; j < 16; ++j) CHECK(out[j] == expect[j]);
}

TEST_CASE("masks: rows lanes against per-lane ranges, key lanes against one range", "[cpu][simd]") {
  int32_t lo[16], hi[16];
  for (int i = 0; i < 16; ++i) { lo[i] = i; hi[i] = i + 2; }
  const std::vector<float> r = lanes(v_mask_rows(v_set1(1.0f), 5, lo, hi));
  for (int i = 0; i < 16; ++i) CHECK((r[i] == 1.0f) == (i == 4 || i == 5));
  const std::vector<float> k = lanes(v_mask_keys(v_set1(2.0f), 10, 12, 20));
  for (int j = 0; j < 16; ++j) CHECK((k[j] == 2.0f) == (10 + j >= 12 && 10 + j < 20));
}

TEST_CASE("FLOP and byte models", "[cpu][simd]") {
  ab_attention_args a{};
  a.batch = 1; a.heads_q = 2; a.heads_kv = 1; a.len_q = 4; a.len_k = 4; a.head_dim = 8;
  a.dtype = AB_F32; a.window_left = a.window_right = -1;
  CHECK(attention_flops(a) == 4.0 * 8 * 16 * 2);
  a.causal = 1;  // 1 + 2 + 3 + 4 visible pairs
  CHECK(attention_flops(a) == 4.0 * 8 * 10 * 2);
  // Q and O: 2 * 4 rows * 2 heads * 8 * 4 bytes; K and V: 2 * 4 keys * 1 head * 8 * 4.
  CHECK(attention_bytes(a) == 2.0 * 4 * 2 * 8 * 4 + 2.0 * 4 * 8 * 4);
}

TEST_CASE("peak measurement returns plausible numbers quickly", "[cpu][simd]") {
  const double flops = measure_peak_flops(2, 0.01);
  CHECK(flops > 1e8);  // low enough for the portable scalar build
  CHECK(flops < 1e14);
  const double bw = measure_peak_read_bandwidth(size_t(64) << 20, 2);
  CHECK(bw > 1e8);
  CHECK(bw < 1e13);
  const double bf16 = measure_peak_flops_bf16(2, 0.01);
  if (active_isa() == Isa::avx512bf16) {
    // VDPBF16PS does twice the FLOPs of an fp32 FMA per instruction. Two 10 ms trials
    // under a parallel ctest once read 419 vs 441 GFLOP/s; best of eight 20 ms trials of
    // each, measured back to back, leaves the 2x margin to what the instructions do.
    const double f32 = measure_peak_flops(8, 0.02), b16 = measure_peak_flops_bf16(8, 0.02);
    INFO("fp32 " << f32 / 1e9 << " GFLOP/s, bf16 " << b16 / 1e9 << " GFLOP/s");
    CHECK(b16 > f32);
  } else {
    CHECK(bf16 == 0);
  }
}

TEST_CASE("bandwidth buffer: at least 4x the last-level cache from sysfs", "[cpu][simd]") {
  const size_t llc = last_level_cache_bytes();
  INFO("LLC " << llc << " B, buffer " << bandwidth_buffer_bytes() << " B");
  CHECK(bandwidth_buffer_bytes() >= (size_t(512) << 20) / 2);  // a quarter of memory at worst
  if (llc > 0) CHECK(bandwidth_buffer_bytes() >= std::min<size_t>(4 * llc, size_t(8) << 30));
  CHECK(bandwidth_buffer_bytes() % 4096 == 0);
}

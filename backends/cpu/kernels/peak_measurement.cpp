// The loops behind the machine peaks, compiled per ISA level: independent fp32 FMA
// chains, VDPBF16PS chains (avx512bf16 level only) and a read stream. The timing, the
// threads and the buffer sizing are level-independent (peaks.cpp).
#include "isa_kernels.h"
#include "simd16.h"

AB_CPU_NS_BEGIN
namespace {

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

}  // namespace

double fma_f32_flops_per_iter() { return 2.0 * kChains * kLanes; }

void fma_f32_loop(long iters) {
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

#if defined(__AVX512BF16__)
bool has_dot_bf16() { return true; }
// One VDPBF16PS: 16 fp32 lanes, each += two bf16 products: 64 FLOP.
double dot_bf16_flops_per_iter() { return 4.0 * kChains * 16; }
void dot_bf16_loop(long iters) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(0.001f * i);
  // Small operands: the accumulators grow by 2e-6 per step and never overflow.
  const __m512bh x = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(1e-3f));
  const __m512bh y = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(1e-3f));
  for (long n = 0; n < iters; ++n) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], x, y);
  }
  __m512 s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, acc[i]);
  g_sink = _mm512_reduce_add_ps(s);
}
#else
bool has_dot_bf16() { return false; }
double dot_bf16_flops_per_iter() { return 0.0; }
void dot_bf16_loop(long) {}
#endif

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

AB_CPU_NS_END

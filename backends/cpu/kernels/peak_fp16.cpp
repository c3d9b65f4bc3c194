// AVX512-FP16 FMA chains for the fp16 peak (see peak_fp16.h). No inline functions or
// templates shared with other translation units: everything here is this file's own.
#include "peak_fp16.h"

#include <immintrin.h>

namespace attnbench::cpu::fp16_peak {
namespace {
volatile float g_sink;
}  // namespace

void fma_loop(long iters) {
  constexpr int kChains = 16;
  __m512h acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ph(static_cast<_Float16>(0.001f * i));
  const __m512h x = _mm512_set1_ph(static_cast<_Float16>(0.999f)), y = _mm512_set1_ph(static_cast<_Float16>(1e-4f));
  for (long n = 0; n < iters; ++n) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ph(acc[i], x, y);
  }
  __m512h s = acc[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ph(s, acc[i]);
  g_sink = static_cast<float>(_mm512_reduce_add_ph(s));
}

}  // namespace attnbench::cpu::fp16_peak

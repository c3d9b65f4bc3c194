// The vector layer of the KV primitives: 16 x f32 / 8 x f64 GCC vector types and the few
// operations the kernels need (loads, fused multiply-add, reductions, exp). Each ISA
// translation unit (observation_scores.cpp & co.) is compiled three times, with
// -march=x86-64-v4, -v3 and baseline, and AB_KV_ISA names the namespace, so the same
// source becomes zmm, ymm-pair or SSE code and the runtime dispatch picks one
// (kv_dispatch.cpp). Everything here lives in that ISA namespace: the three copies of
// these inline functions never meet at link time. Multiply-adds are written a * b + c
// and compiled with -ffp-contract=fast, so they are single-rounding FMAs where the ISA
// has FMA (v3, v4), which is what the host code compiled with -march=native computes.
#pragma once

#ifndef AB_KV_ISA
#error "kv_vec.h is included by the per-ISA kernel sources only (AB_KV_ISA is set by CMake)"
#endif

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__AVX2__)
// GCC 12 reports -Wmaybe-uninitialized inside its own avx512fintrin.h once inlined here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#endif

namespace attnbench::cpu::kv::AB_KV_ISA {

typedef float f32x16 __attribute__((vector_size(64)));
typedef float f32x8 __attribute__((vector_size(32)));
typedef float f32x4 __attribute__((vector_size(16)));
typedef double f64x8 __attribute__((vector_size(64)));
typedef double f64x4 __attribute__((vector_size(32)));
typedef int32_t i32x16 __attribute__((vector_size(64)));
typedef int64_t i64x8 __attribute__((vector_size(64)));
typedef uint8_t u8x16 __attribute__((vector_size(16)));

#if defined(__FMA__)
inline constexpr bool kHasFma = true;
#else
inline constexpr bool kHasFma = false;
#endif

/// Register blocking of the broadcast microkernels (kv_panel.h): rows x (16-key vectors)
/// accumulators, sized to the register file (32 zmm, 16 ymm, 16 xmm).
#if defined(__AVX512F__)
inline constexpr int kPanelRows = 6, kPanelVecs = 4;
#elif defined(__AVX2__)
inline constexpr int kPanelRows = 4, kPanelVecs = 1;
#else
inline constexpr int kPanelRows = 2, kPanelVecs = 1;
#endif
/// Keys per packed panel.
inline constexpr int kPanelWidth = 16 * kPanelVecs;

// Broadcasts (written out: `f32x16{} + x` would cost an add and turn -0 into +0).
inline f32x16 splat(float x) { return f32x16{x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }
inline f64x8 splat(double x) { return f64x8{x, x, x, x, x, x, x, x}; }
inline f32x16 load16(const float* p) { f32x16 v; std::memcpy(&v, p, sizeof v); return v; }
inline void store16(float* p, f32x16 v) { std::memcpy(p, &v, sizeof v); }
inline f64x8 load8(const double* p) { f64x8 v; std::memcpy(&v, p, sizeof v); return v; }
inline void store8(double* p, f64x8 v) { std::memcpy(p, &v, sizeof v); }
/// First n (< 16) lanes from p, the others 0.
inline f32x16 load16_partial(const float* p, int n) {
  f32x16 v = {};
  std::memcpy(&v, p, sizeof(float) * n);
  return v;
}
inline void store16_partial(float* p, f32x16 v, int n) { std::memcpy(p, &v, sizeof(float) * n); }
/// 8 floats widened to doubles (exact).
inline f64x8 load8_f32(const float* p) {
  f32x8 v;
  std::memcpy(&v, p, sizeof v);
  return __builtin_convertvector(v, f64x8);
}

inline f32x16 vmax(f32x16 a, f32x16 b) { return a > b ? a : b; }
inline f32x16 vmin(f32x16 a, f32x16 b) { return a < b ? a : b; }
inline f64x8 vmax(f64x8 a, f64x8 b) { return a > b ? a : b; }
inline f32x16 vabs(f32x16 a) { return a < 0 ? -a : a; }

typedef int32_t i32x8 __attribute__((vector_size(32)));

/// 16 bytes zero-extended to i32 lanes (vpmovzxbd; GCC's generic conversion goes
/// through scalar inserts).
inline i32x16 widen_u8(u8x16 b) {
#if defined(__AVX512F__)
  return reinterpret_cast<i32x16>(_mm512_cvtepu8_epi32(reinterpret_cast<__m128i>(b)));
#elif defined(__AVX2__)
  const i32x8 lo = reinterpret_cast<i32x8>(_mm256_cvtepu8_epi32(reinterpret_cast<__m128i>(b)));
  const i32x8 hi = reinterpret_cast<i32x8>(_mm256_cvtepu8_epi32(_mm_srli_si128(reinterpret_cast<__m128i>(b), 8)));
  return __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
#else
  return __builtin_convertvector(b, i32x16);
#endif
}

/// Lane indices 0..15 (for masks built from positions).
inline i32x16 iota16() { return i32x16{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}; }

inline float hsum(f32x16 v) {
  const f32x8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                  __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const f32x4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
  return (b[0] + b[2]) + (b[1] + b[3]);
}
inline float hmax(f32x16 v) {
  const f32x8 a0 = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7);
  const f32x8 a1 = __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const f32x8 a = a0 > a1 ? a0 : a1;
  const f32x4 b0 = __builtin_shufflevector(a, a, 0, 1, 2, 3), b1 = __builtin_shufflevector(a, a, 4, 5, 6, 7);
  const f32x4 b = b0 > b1 ? b0 : b1;
  return std::fmax(std::fmax(b[0], b[1]), std::fmax(b[2], b[3]));
}
inline double hsum(f64x8 v) {
  const f64x4 a = __builtin_shufflevector(v, v, 0, 1, 2, 3) + __builtin_shufflevector(v, v, 4, 5, 6, 7);
  return (a[0] + a[2]) + (a[1] + a[3]);
}
inline double hmax(f64x8 v) {
  double m = v[0];
  for (int i = 1; i < 8; ++i) m = v[i] > m ? v[i] : m;
  return m;
}

/// out[k] = sum of the lanes of a[k], k < 16: the transpose-and-add of 16 dot-product
/// accumulators (4 levels of two-source shuffles, 15 adds).
inline f32x16 reduce16(const f32x16 (&a)[16]) {
  f32x16 b[8], c[4], d[2];
  for (int i = 0; i < 8; ++i)
    b[i] = __builtin_shufflevector(a[2 * i], a[2 * i + 1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
           __builtin_shufflevector(a[2 * i], a[2 * i + 1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  for (int i = 0; i < 4; ++i)
    c[i] = __builtin_shufflevector(b[2 * i], b[2 * i + 1], 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
           __builtin_shufflevector(b[2 * i], b[2 * i + 1], 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
  for (int i = 0; i < 2; ++i)
    d[i] = __builtin_shufflevector(c[2 * i], c[2 * i + 1], 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29) +
           __builtin_shufflevector(c[2 * i], c[2 * i + 1], 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
  return __builtin_shufflevector(d[0], d[1], 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30) +
         __builtin_shufflevector(d[0], d[1], 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}

/// In-place 16x16 transpose (a[r][c] -> a[c][r]): four rounds of the perfect shuffle,
/// out[2i] = interleave_lo(a[i], a[i + 8]), out[2i + 1] = interleave_hi(a[i], a[i + 8]).
inline void transpose16(f32x16 (&a)[16]) {
  for (int round = 0; round < 4; ++round) {
    f32x16 b[16];
    for (int i = 0; i < 8; ++i) {
      b[2 * i] = __builtin_shufflevector(a[i], a[i + 8], 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
      b[2 * i + 1] = __builtin_shufflevector(a[i], a[i + 8], 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    }
    for (int i = 0; i < 16; ++i) a[i] = b[i];
  }
}

/// Round to nearest even for |x| < 2^22 (larger magnitudes stay large with their sign,
/// which is all the clamping callers need): the 1.5 * 2^23 trick.
inline f32x16 round_even(f32x16 x) {
  const f32x16 magic = splat(12582912.0f);
  return (x + magic) - magic;
}

/// e^x in fp64, relative error ~2e-16 for x in [-708, 709]; 0 below -708 (where the
/// exact result is subnormal), -inf included. Cody-Waite reduction, degree-12 Taylor.
inline f64x8 exp_f64(f64x8 x) {
  const f64x8 xc = vmax(x, splat(-708.0)) < 709.0 ? vmax(x, splat(-708.0)) : splat(709.0);
  const f64x8 magic = splat(6755399441055744.0);  // 1.5 * 2^52
  const f64x8 t = xc * 1.4426950408889634 + magic;
  const f64x8 n = t - magic;
  f64x8 r = xc - n * 6.93147180369123816490e-01;
  r = r - n * 1.90821492927058770002e-10;
  f64x8 p = splat(1.0 / 479001600.0);
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  i64x8 bits;
  std::memcpy(&bits, &t, sizeof bits);
  bits = (bits + 1023) << 52;  // low bits of t hold n: 2^n as a double
  f64x8 two_n;
  std::memcpy(&two_n, &bits, sizeof two_n);
  return x < -708.0 ? splat(0.0) : p * two_n;
}

/// 2^x in fp32, relative error ~2e-7; 0 below -126 (-inf included).
inline f32x16 exp2_f32(f32x16 x) {
  const f32x16 xc = vmin(vmax(x, splat(-126.0f)), splat(127.0f));
  const f32x16 magic = splat(12582912.0f);
  const f32x16 t = xc + magic;
  const f32x16 n = t - magic;
  const f32x16 f = xc - n;  // [-0.5, 0.5]
  f32x16 p = splat(1.535336188319500e-4f);
  p = p * f + 1.339887440266574e-3f;
  p = p * f + 9.618437357674640e-3f;
  p = p * f + 5.550332471162809e-2f;
  p = p * f + 2.402264791363012e-1f;
  p = p * f + 6.931472028550421e-1f;
  p = p * f + 1.0f;
  i32x16 bits;
  std::memcpy(&bits, &t, sizeof bits);
  bits = (bits + 127) << 23;
  f32x16 two_n;
  std::memcpy(&two_n, &bits, sizeof two_n);
  return x < -126.0f ? splat(0.0f) : p * two_n;
}

}  // namespace attnbench::cpu::kv::AB_KV_ISA

// A 16-lane fp32 vector with the handful of operations the CPU kernels need, so
// one kernel source compiles to AVX-512 (one zmm), AVX2 (two ymm) or portable
// scalar code (a float[16] the compiler may auto-vectorise). Also the vectorised
// exp2 and tanh used by the softmax, and 16-bit -> fp32 loads.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

// GCC 12 reports -Wmaybe-uninitialized inside its own avx512fintrin.h/avxintrin.h
// (the _mm512_undefined_* placeholders of masked intrinsics) once inlined here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#if defined(__AVX512F__)
#include <immintrin.h>
#define AB_CPU_AVX512 1
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define AB_CPU_AVX2 1
#endif

#include "attnbench/dtype.h"
#include "isa_namespace.h"

AB_CPU_NS_BEGIN

/// Name of the ISA level this copy of the kernels is compiled for (isa_namespace.h).
inline const char* simd_isa_name() { return AB_CPU_ISA_NAME; }

/// Register-block width of the broadcast microkernels: how many accumulator pairs
/// fit in the register file next to the two operand vectors (32 zmm vs 16 ymm pairs).
#if defined(AB_CPU_AVX512)
inline constexpr int kRegBlock = 12;
#elif defined(AB_CPU_AVX2)
inline constexpr int kRegBlock = 3;
#else
inline constexpr int kRegBlock = 4;
#endif

/// log2(e): the kernels' softmaxes run in base 2 (v_exp2), on logits multiplied by it.
inline constexpr float kLog2e = 1.4426950408889634f;
/// ln(2): back from base 2 to natural logs (a log-sum-exp output).
inline constexpr float kLn2 = 0.6931471805599453f;

struct V16 {
#if defined(AB_CPU_AVX512)
  __m512 v;
#elif defined(AB_CPU_AVX2)
  __m256 lo, hi;
#else
  float f[16];
#endif
};

#if defined(AB_CPU_AVX512)
inline V16 v_zero() { return {_mm512_setzero_ps()}; }
inline V16 v_set1(float x) { return {_mm512_set1_ps(x)}; }
inline V16 v_load(const float* p) { return {_mm512_loadu_ps(p)}; }
inline void v_store(float* p, V16 a) { _mm512_storeu_ps(p, a.v); }
inline V16 v_fmadd(V16 a, V16 b, V16 c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
inline V16 v_add(V16 a, V16 b) { return {_mm512_add_ps(a.v, b.v)}; }
inline V16 v_sub(V16 a, V16 b) { return {_mm512_sub_ps(a.v, b.v)}; }
inline V16 v_mul(V16 a, V16 b) { return {_mm512_mul_ps(a.v, b.v)}; }
inline V16 v_div(V16 a, V16 b) { return {_mm512_div_ps(a.v, b.v)}; }
inline V16 v_max(V16 a, V16 b) { return {_mm512_max_ps(a.v, b.v)}; }
inline float v_reduce_max(V16 a) { return _mm512_reduce_max_ps(a.v); }
inline float v_reduce_add(V16 a) { return _mm512_reduce_add_ps(a.v); }
/// Lanes equal to -inf become 0 (the "safe max" of an all-masked row).
inline V16 v_neg_inf_to_zero(V16 a) {
  const __mmask16 m = _mm512_cmp_ps_mask(a.v, _mm512_set1_ps(-INFINITY), _CMP_EQ_OQ);
  return {_mm512_mask_mov_ps(a.v, m, _mm512_setzero_ps())};
}
/// Lanes i where !(lo[i] <= k < hi[i]) become -inf (lanes are query rows).
inline V16 v_mask_rows(V16 a, int k, const int32_t* lo, const int32_t* hi) {
  const __m512i kv = _mm512_set1_epi32(k);
  const __mmask16 vis = _mm512_cmple_epi32_mask(_mm512_loadu_si512(lo), kv) &
                        _mm512_cmplt_epi32_mask(kv, _mm512_loadu_si512(hi));
  return {_mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), vis, a.v)};
}
/// Lanes j where key k0 + j is outside [lo, hi) become -inf (lanes are keys).
inline V16 v_mask_keys(V16 a, int k0, int lo, int hi) {
  const __m512i kv = _mm512_add_epi32(_mm512_set1_epi32(k0),
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  const __mmask16 vis = _mm512_cmpge_epi32_mask(kv, _mm512_set1_epi32(lo)) &
                        _mm512_cmplt_epi32_mask(kv, _mm512_set1_epi32(hi));
  return {_mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), vis, a.v)};
}
/// Lanes where a < t take b, others keep c.
inline V16 v_select_lt(V16 a, V16 t, V16 b, V16 c) {
  return {_mm512_mask_mov_ps(c.v, _mm512_cmp_ps_mask(a.v, t.v, _CMP_LT_OQ), b.v)};
}
inline V16 v_abs(V16 a) { return {_mm512_abs_ps(a.v)}; }
inline V16 v_copysign(V16 mag, V16 sgn) {
  const __m512i s = _mm512_and_si512(_mm512_castps_si512(sgn.v), _mm512_set1_epi32(INT32_MIN));
  return {_mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(mag.v), s))};
}
/// 2^x; inputs below -150 give 0, -inf included. Relative error ~2e-7.
inline V16 v_exp2(V16 x) {
  // The clamps keep a NaN (maxps/minps return the second operand when either is NaN), so
  // a NaN score (a NaN in Q or K) gives a NaN probability and a NaN output, as the fp64
  // oracle does, instead of exp2(-150) = 0 and a finite row that hides the bad input.
  __m512 t = _mm512_max_ps(_mm512_set1_ps(-150.0f), x.v);
  t = _mm512_min_ps(_mm512_set1_ps(128.0f), t);
  const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(t, n);  // [-0.5, 0.5]
  __m512 p = _mm512_set1_ps(1.535336188319500e-4f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.339887440266574e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.618437357674640e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550332471162809e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402264791363012e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931472028550421e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return {_mm512_scalef_ps(p, n)};  // p * 2^n with exact under/overflow handling
}
/// 16 consecutive bf16 / fp16 values widened to fp32.
inline V16 v_load_bf16(const uint16_t* p) {
  const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return {_mm512_castsi512_ps(_mm512_slli_epi32(w, 16))};
}
inline V16 v_load_f16(const uint16_t* p) {
  return {_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)))};
}

/// out[j] = sum of the 16 lanes of a[j], for j < 16: the transpose-and-add of
/// 16 dot-product accumulators (log-tree of unpack/shuffle + add, 45 ops in all).
inline V16 v_reduce16(const V16 (&a)[16]) {
  __m512 b[8], c[4], d[2];
  for (int i = 0; i < 8; ++i)
    b[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i].v, a[2 * i + 1].v),
                         _mm512_unpackhi_ps(a[2 * i].v, a[2 * i + 1].v));
  for (int i = 0; i < 4; ++i)
    c[i] = _mm512_add_ps(_mm512_shuffle_ps(b[2 * i], b[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(b[2 * i], b[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  // Each 128-bit lane of c[i] now holds the partial sums of keys 4i..4i+3 in order.
  for (int i = 0; i < 2; ++i)
    d[i] = _mm512_add_ps(_mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  return {_mm512_add_ps(_mm512_shuffle_f32x4(d[0], d[1], _MM_SHUFFLE(2, 0, 2, 0)),
                        _mm512_shuffle_f32x4(d[0], d[1], _MM_SHUFFLE(3, 1, 3, 1)))};
}

#else  // AVX2 pair-of-ymm or portable scalar lanes: written lane-wise, one definition.

namespace detail {
inline float lane(const V16& a, int i) {
#if defined(AB_CPU_AVX2)
  alignas(32) float t[16];
  _mm256_store_ps(t, a.lo);
  _mm256_store_ps(t + 8, a.hi);
  return t[i];
#else
  return a.f[i];
#endif
}
}  // namespace detail

#if defined(AB_CPU_AVX2)
inline V16 v_zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
inline V16 v_set1(float x) { return {_mm256_set1_ps(x), _mm256_set1_ps(x)}; }
inline V16 v_load(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
inline void v_store(float* p, V16 a) { _mm256_storeu_ps(p, a.lo); _mm256_storeu_ps(p + 8, a.hi); }
inline V16 v_fmadd(V16 a, V16 b, V16 c) {
  return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
}
inline V16 v_add(V16 a, V16 b) { return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
inline V16 v_sub(V16 a, V16 b) { return {_mm256_sub_ps(a.lo, b.lo), _mm256_sub_ps(a.hi, b.hi)}; }
inline V16 v_mul(V16 a, V16 b) { return {_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
inline V16 v_div(V16 a, V16 b) { return {_mm256_div_ps(a.lo, b.lo), _mm256_div_ps(a.hi, b.hi)}; }
inline V16 v_max(V16 a, V16 b) { return {_mm256_max_ps(a.lo, b.lo), _mm256_max_ps(a.hi, b.hi)}; }
inline V16 v_load_f16(const uint16_t* p) {
  return {_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))),
          _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8)))};
}
inline V16 v_load_bf16(const uint16_t* p) {
  const __m256i a = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  const __m256i b = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8)));
  return {_mm256_castsi256_ps(_mm256_slli_epi32(a, 16)), _mm256_castsi256_ps(_mm256_slli_epi32(b, 16))};
}
#else
inline V16 v_zero() { V16 r; for (float& x : r.f) x = 0.0f; return r; }
inline V16 v_set1(float x) { V16 r; for (float& y : r.f) y = x; return r; }
inline V16 v_load(const float* p) { V16 r; std::memcpy(r.f, p, sizeof r.f); return r; }
inline void v_store(float* p, V16 a) { std::memcpy(p, a.f, sizeof a.f); }
#define AB_V16_BINARY(NAME, EXPR) \
  inline V16 NAME(V16 a, V16 b) { V16 r; for (int i = 0; i < 16; ++i) r.f[i] = (EXPR); return r; }
AB_V16_BINARY(v_add, a.f[i] + b.f[i])
AB_V16_BINARY(v_sub, a.f[i] - b.f[i])
AB_V16_BINARY(v_mul, a.f[i] * b.f[i])
AB_V16_BINARY(v_div, a.f[i] / b.f[i])
AB_V16_BINARY(v_max, a.f[i] > b.f[i] ? a.f[i] : b.f[i])
#undef AB_V16_BINARY
inline V16 v_fmadd(V16 a, V16 b, V16 c) {
  V16 r; for (int i = 0; i < 16; ++i) r.f[i] = std::fma(a.f[i], b.f[i], c.f[i]); return r;
}
inline V16 v_load_f16(const uint16_t* p) { V16 r; for (int i = 0; i < 16; ++i) r.f[i] = f16_to_f32(p[i]); return r; }
inline V16 v_load_bf16(const uint16_t* p) { V16 r; for (int i = 0; i < 16; ++i) r.f[i] = bf16_to_f32(p[i]); return r; }
#endif

/// Builds a vector lane by lane (slow path helpers: masks, selects, exp2).
template <class F>
inline V16 v_generate(F f) {
  alignas(64) float t[16];
  for (int i = 0; i < 16; ++i) t[i] = f(i);
  return v_load(t);
}
inline float v_reduce_max(V16 a) {
  float m = detail::lane(a, 0);
  for (int i = 1; i < 16; ++i) m = detail::lane(a, i) > m ? detail::lane(a, i) : m;
  return m;
}
inline float v_reduce_add(V16 a) {
  float s = 0.0f;
  for (int i = 0; i < 16; ++i) s += detail::lane(a, i);
  return s;
}
inline V16 v_neg_inf_to_zero(V16 a) {
  return v_generate([&](int i) { const float x = detail::lane(a, i); return x == -INFINITY ? 0.0f : x; });
}
inline V16 v_mask_rows(V16 a, int k, const int32_t* lo, const int32_t* hi) {
  return v_generate([&](int i) { return lo[i] <= k && k < hi[i] ? detail::lane(a, i) : -INFINITY; });
}
inline V16 v_mask_keys(V16 a, int k0, int lo, int hi) {
  return v_generate([&](int i) { return k0 + i >= lo && k0 + i < hi ? detail::lane(a, i) : -INFINITY; });
}
inline V16 v_select_lt(V16 a, V16 t, V16 b, V16 c) {
  return v_generate([&](int i) {
    return detail::lane(a, i) < detail::lane(t, i) ? detail::lane(b, i) : detail::lane(c, i);
  });
}
inline V16 v_abs(V16 a) { return v_generate([&](int i) { return std::fabs(detail::lane(a, i)); }); }
inline V16 v_copysign(V16 mag, V16 sgn) {
  return v_generate([&](int i) { return std::copysign(detail::lane(mag, i), detail::lane(sgn, i)); });
}
inline V16 v_exp2(V16 x) {
  // NaN stays NaN (std::fmax would drop it): see the AVX-512 version.
  return v_generate([&](int i) {
    const float t = detail::lane(x, i);
    return t != t ? t : std::exp2(std::fmax(t, -150.0f));
  });
}
inline V16 v_reduce16(const V16 (&a)[16]) {
  return v_generate([&](int i) { return v_reduce_add(a[i]); });
}
#endif

/// tanh with ~1e-7 relative error: odd polynomial near 0 (Cephes tanhf), where
/// 1 - 2 / (e^{2x} + 1) would lose digits to cancellation, that formula elsewhere.
inline V16 v_tanh(V16 x) {
  const V16 ax = v_abs(x);
  const V16 s = v_mul(x, x);
  V16 p = v_set1(-5.70498872745e-3f);
  p = v_fmadd(p, s, v_set1(2.06390887954e-2f));
  p = v_fmadd(p, s, v_set1(-5.37397155531e-2f));
  p = v_fmadd(p, s, v_set1(1.33314422036e-1f));
  p = v_fmadd(p, s, v_set1(-3.33332819422e-1f));
  const V16 small = v_fmadd(v_mul(p, s), x, x);
  // 2x in base 2: e^{2|x|} = 2^{2|x| log2(e)}.
  const V16 e = v_exp2(v_mul(ax, v_set1(2.0f * kLog2e)));
  const V16 big = v_sub(v_set1(1.0f), v_div(v_set1(2.0f), v_add(e, v_set1(1.0f))));
  return v_select_lt(ax, v_set1(0.625f), small, v_copysign(big, x));
}

/// Loads 16 elements of storage type T (float, or uint16_t holding bf16 / fp16).
template <ab_dtype DT>
inline V16 v_load_as_f32(const void* p) {
  if constexpr (DT == AB_F32) return v_load(static_cast<const float*>(p));
  else if constexpr (DT == AB_BF16) return v_load_bf16(static_cast<const uint16_t*>(p));
  else return v_load_f16(static_cast<const uint16_t*>(p));
}

AB_CPU_NS_END

// Scalar arithmetic of the KV primitives shared verbatim by the CUDA/HIP kernels and the
// CPU emulation (kv_emulation.cpp): fp16 rounding of quantisation scales, an order-keeping
// integer key for top-k, the radix-select step, reductions and a running log-sum-exp.
// Written with <math.h> and integer arithmetic only (no bit casts of floats except in
// topk_key), so the host and the device compute bit-identical scales and codes.
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "attnbench/device_compat.h"
#include "attnbench/plugin_abi.h"

namespace attnbench::gpu::kv {

/// Rounds x to the nearest fp16 value (ties to even), as a stored fp16 scale holds it:
/// |x| >= 65520 overflows to inf, |x| < 2^-14 lands on the subnormal grid of 2^-24.
AB_INLINE float round_fp16(float x) {
  const float a = fabsf(x);
  if (!(a < 65520.0f)) return x != x ? x : copysignf(INFINITY, x);
  if (a < 6.103515625e-05f) return rintf(x * 16777216.0f) / 16777216.0f;
  int e = 0;
  const float m = frexpf(x, &e);  // |m| in [0.5, 1): 11 significant bits are 2^11 * m
  return ldexpf(rintf(ldexpf(m, 11)), e - 11);
}

/// fp16 bit pattern of a value that round_fp16 produced (exactly representable).
AB_INLINE uint16_t fp16_bits(float r) {
  const uint16_t sign = signbit(r) ? 0x8000u : 0u;
  const float a = fabsf(r);
  if (a == 0.0f) return sign;
  if (isinf(a)) return static_cast<uint16_t>(sign | 0x7c00u);
  if (a != a) return 0x7e00u;
  if (a < 6.103515625e-05f) return static_cast<uint16_t>(sign | static_cast<uint16_t>(a * 16777216.0f));
  int e = 0;
  const float m = frexpf(a, &e);  // a = m * 2^e, exponent field e - 1 + 15
  const int mant = static_cast<int>(m * 2048.0f) - 1024;
  return static_cast<uint16_t>(sign | ((e + 14) << 10) | mant);
}

/// Value of an fp16 bit pattern.
AB_INLINE float fp16_value(uint16_t h) {
  const int e = (h >> 10) & 0x1f, mant = h & 0x3ff;
  float a;
  if (e == 0) a = ldexpf(static_cast<float>(mant), -24);
  else if (e == 31) a = mant ? NAN : INFINITY;
  else a = ldexpf(static_cast<float>(1024 + mant), e - 25);
  return (h & 0x8000u) ? -a : a;
}

/// Unsigned key with the order of the float scores (larger score, larger key); -0 and
/// +0 share a key so that they tie like the float comparison of the CPU backend, and NaN
/// ranks below every number (key 0) as there.
AB_INLINE uint32_t topk_key(float x) {
  if (x != x) return 0u;
  if (x == 0.0f) x = 0.0f;
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  const uint32_t u = __float_as_uint(x);
#else
  uint32_t u;
  memcpy(&u, &x, sizeof u);
#endif
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/// State of a most-significant-digit-first radix select for the `want` largest keys:
/// candidates are keys whose bits under `mask` equal `prefix`. After the four 8-bit steps
/// `prefix` is the smallest selected key and `want` the number of keys equal to it to take.
struct RadixSelect {
  uint32_t prefix, mask;
  int want;

  AB_INLINE static RadixSelect start(int want) { return RadixSelect{0u, 0u, want}; }
  AB_INLINE bool candidate(uint32_t key) const { return (key & mask) == prefix; }
  AB_INLINE static int digit(uint32_t key, int shift) { return static_cast<int>((key >> shift) & 0xffu); }

  /// Narrows the candidates by the digit at `shift` given the candidates' histogram of
  /// that digit: takes the highest digits while they hold fewer than `want` keys.
  AB_INLINE void step(const int* hist, int shift) {
    int above = 0;
    int d = 255;
    for (; d > 0; --d) {
      if (above + hist[d] >= want) break;
      above += hist[d];
    }
    prefix |= static_cast<uint32_t>(d) << shift;
    mask |= 0xffu << shift;
    want -= above;
  }
};

/// Identity of a reduction over probabilities (which are >= 0): 0 for sum and max.
AB_INLINE float reduce_identity() { return 0.0f; }

/// acc (+)= x under `r`.
AB_INLINE float reduce(ab_kv_reduce r, float acc, float x) { return r == AB_KV_MAX ? fmaxf(acc, x) : acc + x; }

/// Running log(sum exp(v)) over values that arrive one at a time (max-shifted).
struct LogSumExp {
  float m, s;
  AB_INLINE static LogSumExp start() { return LogSumExp{-INFINITY, 0.0f}; }
  AB_INLINE void add(float v) {
    if (v == -INFINITY) return;
    if (v > m) {
      s = (m == -INFINITY ? 0.0f : s * expf(m - v)) + 1.0f;
      m = v;
    } else {
      s += expf(v - m);
    }
  }
  AB_INLINE float value() const { return s > 0.0f ? m + logf(s) : -INFINITY; }
};

/// Dot product of two fp32 rows of n elements.
AB_INLINE float dot_row(const float* a, const float* b, int n) {
  float acc = 0.0f;
  for (int c = 0; c < n; ++c) acc += a[c] * b[c];
  return acc;
}

}  // namespace attnbench::gpu::kv

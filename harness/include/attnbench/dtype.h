// Host-side conversions between fp32 and the 16-bit storage types (bf16, fp16),
// round-to-nearest-even, NaN-preserving. C++17, header-only.
#pragma once

#include <cstdint>
#include <cstring>

#include "attnbench/plugin_abi.h"

namespace attnbench {

/// Bytes per element of a storage type.
inline size_t dtype_size(ab_dtype t) { return t == AB_F32 ? 4 : 2; }

/// Canonical name ("fp32", "bf16", "fp16").
inline const char* dtype_name(ab_dtype t) {
  return t == AB_F32 ? "fp32" : t == AB_BF16 ? "bf16" : "fp16";
}

inline uint32_t f32_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float bits_f32(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

/// fp32 -> bf16 bits, round to nearest even.
inline uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
inline float bf16_to_f32(uint16_t h) { return bits_f32(static_cast<uint32_t>(h) << 16); }

/// fp32 -> IEEE fp16 bits, round to nearest even, overflow to inf.
inline uint16_t f32_to_f16(float f) {
  const uint32_t u = f32_bits(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t absu = u & 0x7fffffffu;
  if (absu > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);
  if (absu >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520
  if (absu < 0x38800000u) {  // subnormal or zero in fp16
    if (absu < 0x33000000u) return static_cast<uint16_t>(sign);
    const uint32_t mant = (absu & 0x7fffffu) | 0x800000u;
    const int shift = 126 - static_cast<int>(absu >> 23);  // 14..24
    uint32_t half = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1u);
    const uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t v = absu - 0x38000000u;  // rebias exponent 127 -> 15
  v += 0xfffu + ((v >> 13) & 1u);
  return static_cast<uint16_t>(sign | (v >> 13));
}
inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1fu) return bits_f32(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    if (mant == 0) return bits_f32(sign);
    int e = -1;
    do { mant <<= 1; ++e; } while ((mant & 0x400u) == 0);
    return bits_f32(sign | ((112u - e) << 23) | ((mant & 0x3ffu) << 13));
  }
  return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

/// Converts n fp32 values to `t` storage at dst (dst holds n * dtype_size(t) bytes).
inline void encode(ab_dtype t, const float* src, void* dst, size_t n) {
  // Empty tensors may come with null pointers; memcpy(nullptr, nullptr, 0) is still UB.
  if (n == 0) return;
  if (t == AB_F32) { std::memcpy(dst, src, n * 4); return; }
  auto* out = static_cast<uint16_t*>(dst);
  for (size_t i = 0; i < n; ++i) out[i] = t == AB_BF16 ? f32_to_bf16(src[i]) : f32_to_f16(src[i]);
}

/// Converts n elements of `t` storage at src to fp32.
inline void decode(ab_dtype t, const void* src, float* dst, size_t n) {
  if (n == 0) return;  // as in encode: null pointers of empty tensors
  if (t == AB_F32) { std::memcpy(dst, src, n * 4); return; }
  const auto* in = static_cast<const uint16_t*>(src);
  for (size_t i = 0; i < n; ++i) dst[i] = t == AB_BF16 ? bf16_to_f32(in[i]) : f16_to_f32(in[i]);
}

}  // namespace attnbench

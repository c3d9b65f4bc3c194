// Addressing and dtype conversion of the ABI tensors on the host, plus the aligned
// per-thread scratch buffers the kernels reuse between calls (no allocation inside
// a timed run once warm).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "attnbench/dtype.h"
#include "attnbench/plugin_abi.h"
#include "simd16.h"

AB_CPU_NS_BEGIN

/// Host pointer behind a CPU-backend buffer handle.
template <class T = void>
inline T* host_ptr(ab_buffer b) { return reinterpret_cast<T*>(b); }

/// Element offset of row (b, h, i) in a [batch, heads, len, d] tensor.
inline size_t row_offset(int b, int h, int i, int heads, int len, int d) {
  return ((static_cast<size_t>(b) * heads + h) * len + i) * static_cast<size_t>(d);
}

/// Actual query / key length of batch b (varlen-aware).
inline int len_q_of(const ab_attention_args& a, int b) { return a.seq_len_q ? a.seq_len_q[b] : a.len_q; }
inline int len_k_of(const ab_attention_args& a, int b) { return a.seq_len_k ? a.seq_len_k[b] : a.len_k; }

/// Value / output head dim of `a` (head_dim_v; 0 means head_dim).
inline int dv_of(const ab_attention_args& a) { return a.head_dim_v > 0 ? a.head_dim_v : a.head_dim; }

/// Converts n elements of type t starting at element `off` of base into fp32.
inline void load_row_f32(ab_dtype t, const void* base, size_t off, float* dst, int n) {
  // An empty row may sit in an empty (null) tensor: memcpy and null + off are UB even for 0 bytes.
  if (n <= 0) return;
  if (t == AB_F32) {
    std::memcpy(dst, static_cast<const float*>(base) + off, sizeof(float) * n);
    return;
  }
  const uint16_t* src = static_cast<const uint16_t*>(base) + off;
  int i = 0;
  if (t == AB_BF16) {
    for (; i + 16 <= n; i += 16) v_store(dst + i, v_load_bf16(src + i));
    for (; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
  } else {
    for (; i + 16 <= n; i += 16) v_store(dst + i, v_load_f16(src + i));
    for (; i < n; ++i) dst[i] = f16_to_f32(src[i]);
  }
}

/// Writes n fp32 values as type t at element `off` of base (round to nearest even).
inline void store_row(ab_dtype t, void* base, size_t off, const float* src, int n) {
  if (n <= 0) return;  // as in load_row_f32
  if (t == AB_F32) {
    std::memcpy(static_cast<float*>(base) + off, src, sizeof(float) * n);
    return;
  }
  uint16_t* dst = static_cast<uint16_t*>(base) + off;
  if (t == AB_BF16) {
    for (int i = 0; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
  } else {
    for (int i = 0; i < n; ++i) dst[i] = f32_to_f16(src[i]);
  }
}

/// Writes n zeros of type t (rows that see no key).
inline void store_zero_row(ab_dtype t, void* base, size_t off, int n) {
  if (n <= 0) return;  // as in load_row_f32
  std::memset(static_cast<char*>(base) + off * dtype_size(t), 0, dtype_size(t) * n);
}

/// A growable 64-byte aligned float buffer; contents are not preserved on growth.
class ScratchF32 {
 public:
  ScratchF32() = default;
  ScratchF32(const ScratchF32&) = delete;
  ScratchF32& operator=(const ScratchF32&) = delete;
  ~ScratchF32() { std::free(p_); }
  /// Returns a buffer of at least n floats (reallocates only when it must grow).
  float* get(size_t n) {
    if (n > cap_) {
      std::free(p_);
      const size_t bytes = ((n * sizeof(float)) + 63) / 64 * 64;
      p_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!p_) { cap_ = 0; throw std::bad_alloc(); }
      cap_ = n;
    }
    return p_;
  }

 private:
  float* p_ = nullptr;
  size_t cap_ = 0;
};

AB_CPU_NS_END

// What the GPU plugins run, declared up front (DESIGN: capabilities are declared, not
// discovered by failure), and which kernel path a case takes. Plain C++17 shared by
// the device TUs and the host tests.
#pragma once

#include <stdint.h>
#include <string.h>

#include "attnbench/plugin_abi.h"

namespace attnbench::gpu {

constexpr int kMaxHeadDim = 128;  // SIMT kernels are instantiated for d <= 64 and d <= 128
constexpr int kMaxDecodeQueries = 16;

/// Variants the GPU plugins implement (NULL-terminated for the ABI table).
inline const char* const* gpu_variants() {
  static const char* const v[] = {"flash", "decode", "naive", nullptr};
  return v;
}

/// Null if the arguments describe a possible case, else why not (AB_INVALID_ARGUMENT).
/// Judges shape and options only: buffer handles may still be null (plugin_abi.h).
inline const char* invalid_reason(const ab_attention_args& a) {
  if (a.batch < 0 || a.heads_q <= 0 || a.heads_kv <= 0 || a.len_q < 0 || a.len_k < 0 || a.head_dim <= 0)
    return "sizes must be positive (lengths may be 0)";
  if (a.heads_q % a.heads_kv != 0) return "heads_q must be a multiple of heads_kv";
  if (a.dtype != AB_F32 && a.dtype != AB_BF16 && a.dtype != AB_F16) return "unknown dtype";
  if (a.page_size < 0) return "page_size must not be negative";
  if (a.page_size > 0 && (a.max_pages_per_seq <= 0 || a.num_pages <= 0))
    return "paged KV needs num_pages and max_pages_per_seq";
  if (a.page_size > 0 && static_cast<long long>(a.max_pages_per_seq) * a.page_size < a.len_k)
    return "block table too short for len_k";
  if (a.page_size > 0 && a.kv_layout != AB_KV_HND && a.kv_layout != AB_KV_NHD)
    return "unknown kv_layout (0 = HND [pages, heads, page, d], 1 = NHD [pages, page, heads, d])";
  return nullptr;
}

/// Null if `variant` runs the (valid) case `a`, else a one-line reason (AB_UNSUPPORTED).
inline const char* unsupported_reason(const char* variant, const ab_attention_args& a) {
  const bool flash = strcmp(variant, "flash") == 0, decode = strcmp(variant, "decode") == 0;
  const bool naive = strcmp(variant, "naive") == 0;
  if (!flash && !decode && !naive) return "variant not implemented by the GPU backends (flash, decode, naive)";
  // Both would be silently ignored by the kernels: V and O rows are head_dim wide, and
  // no forward kernel writes a log-sum-exp.
  if (a.head_dim_v != 0 && a.head_dim_v != a.head_dim)
    return "head_dim_v != head_dim is not implemented by the GPU kernels";
  if (a.lse) return "the GPU forward kernels do not write lse";
  if (naive) return a.page_size > 0 ? "naive reads contiguous KV" : nullptr;  // any head_dim
  if (a.head_dim > kMaxHeadDim) return "head_dim > 128 is not instantiated on the GPU backends";
  if (flash && a.page_size > 0) return "flash reads contiguous KV; paged KV runs with decode";
  if (decode && a.len_q > kMaxDecodeQueries) return "decode takes at most 16 queries per sequence";
  return nullptr;
}

/// Bytes of the score matrix `naive` materialises (S and P share it): B*Hq*Lq*Lk elements.
inline size_t naive_workspace_bytes(const ab_attention_args& a) {
  const size_t elem = a.dtype == AB_F32 ? 4 : 2;
  return static_cast<size_t>(a.batch) * a.heads_q * a.len_q * a.len_k * elem;
}

/// Null if `variant` has a GPU backward pass for the (valid) case `a`, else a one-line
/// reason (AB_UNSUPPORTED): flash and naive, refusing what the CPU backward refuses
/// (paged KV, varlen, softcap, head_dim_v != head_dim, any other variant or variant
/// option); flash instantiates head dims up to 128 as the forward does.
inline const char* backward_unsupported_reason(const char* variant, const ab_attention_args& a) {
  const bool flash = strcmp(variant, "flash") == 0, naive = strcmp(variant, "naive") == 0;
  if (!flash && !naive) return "the GPU backends have a backward pass for naive and flash only";
  if (a.page_size > 0) return "backward reads contiguous KV only (page_size > 0)";
  if (a.seq_len_q || a.seq_len_k) return "backward does not implement varlen batches";
  if (a.softcap > 0.0f) return "backward does not implement softcap";
  if (a.head_dim_v != 0 && a.head_dim_v != a.head_dim) return "backward needs head_dim_v == head_dim";
  if (flash && a.head_dim > kMaxHeadDim) return "flash backward: head_dim > 128 is not instantiated on the GPU backends";
  return nullptr;
}

/// Bytes of the fp32 P and dS matrices naive backward materialises: 2 x B*Hq*Lq*Lk floats.
inline size_t naive_backward_workspace_bytes(const ab_attention_args& a) {
  return 2 * static_cast<size_t>(a.batch) * a.heads_q * a.len_q * a.len_k * sizeof(float);
}

/// Whether flash takes the tensor-core path: NVIDIA sm_80+, 16-bit inputs, d in {64, 128}
/// (the instantiated tile shapes; 16-bit loads also need d a multiple of 8).
inline bool use_tensor_cores(bool cuda, int cc_major, ab_dtype t, int head_dim) {
  return cuda && cc_major >= 8 && t != AB_F32 && (head_dim == 64 || head_dim == 128);
}

/// Whether `decode` takes the dedicated kernel (decode_attention.cuh). Its 16-byte K/V
/// loads need rows of whole 16-byte vectors (head_dim * element size a multiple of 16)
/// and 16-byte aligned K/V buffers; other cases (e.g. bf16 d = 36, fp32 d = 50, or a
/// buffer at an odd offset) keep the SIMT body, whose loads are per element. Option
/// path=simt (force_simt) also keeps it, so tests and timings compare both paths.
inline bool use_decode_kernel(const ab_attention_args& a, bool force_simt) {
  const int elem = a.dtype == AB_F32 ? 4 : 2;
  const auto aligned = [](const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; };
  return !force_simt && a.head_dim <= kMaxHeadDim && (a.head_dim * elem) % 16 == 0 && aligned(a.k) &&
         aligned(a.v);
}

/// SIMT instantiation (DMAX) that serves a head dimension.
inline int simt_dmax(int head_dim) { return head_dim <= 64 ? 64 : 128; }

}  // namespace attnbench::gpu

// Layout of the CPU backend's quantised KV cache (the `out` buffer of quantize, the
// `cache` of quant_decode). Everything is derived from the shape, the spec and
// len_per_head, so the buffer carries no header.
//
// Heads follow one another; head j holds n = len_per_head[j] (or len_k) tokens, of which
//   nq = floor(max(0, n - residual) / G) * G  are quantised, G = the least common multiple
//        of the per-channel groups in use (key_group and/or value_group), 1 if none;
//   nf = n - nq  stay full precision (the residual window plus the tail that does not
//        fill a whole per-channel group; kivi's layout).
// A head's region is, each section starting at a 64-byte aligned offset:
//   K codes, K scales, K zeros, V codes, V scales, V zeros, K fp rows, V fp rows.
// Codes: nq rows of row_bytes = dp * w / 8 bytes, dp = head_dim rounded up to 16 and
//   w = the container width of `bits` (1, 2, 4 or 8: 3 bits are stored in 4, 5..7 in 8).
//   Channel c of a row is at bit c * w: byte (c * w) / 8, bits (c * w) % 8 and up, little
//   endian; padding channels hold 0. Asymmetric codes u are in [0, 2^bits - 1]; symmetric
//   codes q in [-(2^(bits-1) - 1), 2^(bits-1) - 1] are stored as u = q + 2^(bits-1).
// Scales and zeros: f32 values already rounded to fp16 (what a real cache stores; the
//   bytes a method reports count them as 2 bytes each), zeros present but 0 when
//   symmetric.
//   per token  : [nq][ng], ng = ceil(head_dim / gs), gs = min(group or head_dim, head_dim);
//                group i of a token spans channels [i * gs, min((i + 1) * gs, head_dim)).
//   per channel: [nq / group][head_dim]; group i spans tokens [i * group, (i + 1) * group).
// Full-precision rows: tokens nq .. n - 1 of K, then of V, f32 [nf][head_dim].
//
// Quantisation of a group (lo, hi, amax over its elements):
//   asymmetric: zero = fp16(lo), scale = fp16((hi - lo) / (2^bits - 1)),
//               u = scale > 0 ? clamp(nearbyint((x - zero) / scale), 0, 2^bits - 1) : 0
//   symmetric : scale = fp16(amax / (2^(bits-1) - 1)),
//               q = scale > 0 ? clamp(nearbyint(x / scale), -(2^(bits-1) - 1), 2^(bits-1) - 1) : 0
// Dequantisation (inside quant_decode): asymmetric x = fma(u, scale, zero) (one rounding),
// symmetric x = q * scale: bit for bit what kv_kivi.cpp, kv_int8.cpp and kv_spatten.cpp
// compute with -march=native (their zero + code * scale contracts to an FMA).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <vector>

#include "attnbench/plugin_abi.h"

namespace attnbench::cpu::kv {
namespace {  // internal linkage: each ISA translation unit keeps its own copy

/// Storage width of a `bits`-bit code (1, 2, 4 or 8).
inline int container_width(int bits) { return bits <= 1 ? 1 : bits <= 2 ? 2 : bits <= 4 ? 4 : 8; }
inline size_t align64(size_t x) { return (x + 63) / 64 * 64; }
inline int padded_dim(int d) { return (d + 15) / 16 * 16; }

/// One tensor (K or V) of a head.
struct TensorLayout {
  int bits = 0, width = 0;
  ab_kv_quant_axis axis = AB_KV_PER_TOKEN;
  int group = 0;      // channels per group (per token) or tokens per group (per channel)
  int ngroups = 0;    // groups per token (per token)
  bool symmetric = false;
  size_t row_bytes = 0;
  size_t codes = 0, scales = 0, zeros = 0;  // byte offsets from the head's base
  size_t nparams = 0;                       // scales (= zeros) of the tensor
};

/// One head of the cache.
struct HeadLayout {
  int n = 0, nq = 0, nf = 0;
  TensorLayout k, v;
  size_t fp_k = 0, fp_v = 0;  // byte offsets of the full-precision rows
  size_t base = 0, bytes = 0; // head region in the cache
};

/// Quantised tokens of a head of n tokens.
inline int quantised_tokens(const ab_kv_quant_spec& s, int n) {
  int64_t g = 1;
  if (s.key_axis == AB_KV_PER_CHANNEL) g = std::lcm(g, static_cast<int64_t>(s.key_group));
  if (s.value_axis == AB_KV_PER_CHANNEL) g = std::lcm(g, static_cast<int64_t>(s.value_group));
  const int64_t q = std::max(0, n - s.residual);
  return static_cast<int>(q / g * g);
}

inline TensorLayout tensor_layout(int bits, ab_kv_quant_axis axis, int group, bool sym, int d, int nq, size_t* off) {
  TensorLayout t;
  t.bits = bits, t.width = container_width(bits), t.axis = axis, t.symmetric = sym;
  t.row_bytes = static_cast<size_t>(padded_dim(d)) * t.width / 8;
  if (axis == AB_KV_PER_TOKEN) {
    t.group = group <= 0 ? d : std::min(group, d);
    t.ngroups = (d + t.group - 1) / t.group;
    t.nparams = static_cast<size_t>(nq) * t.ngroups;
  } else {
    t.group = group;
    t.nparams = static_cast<size_t>(nq / group) * d;
  }
  t.codes = *off, *off = align64(*off + t.row_bytes * nq);
  t.scales = *off, *off = align64(*off + t.nparams * sizeof(float));
  t.zeros = *off, *off = align64(*off + t.nparams * sizeof(float));
  return t;
}

/// Layout of one head of n tokens (offsets from the head's base).
inline HeadLayout head_layout(const ab_kv_quant_spec& s, int d, int n) {
  HeadLayout h;
  h.n = n, h.nq = quantised_tokens(s, n), h.nf = n - h.nq;
  size_t off = 0;
  h.k = tensor_layout(s.key_bits, s.key_axis, s.key_group, s.symmetric != 0, d, h.nq, &off);
  h.v = tensor_layout(s.value_bits, s.value_axis, s.value_group, s.symmetric != 0, d, h.nq, &off);
  h.fp_k = off, off = align64(off + sizeof(float) * h.nf * static_cast<size_t>(d));
  h.fp_v = off, off = align64(off + sizeof(float) * h.nf * static_cast<size_t>(d));
  h.bytes = off;
  return h;
}

/// Every head's layout with its base offset; *total = bytes of the cache.
inline std::vector<HeadLayout> cache_layout(int heads_kv, int len_k, int d, const ab_kv_quant_spec& s,
                                            const int32_t* len_per_head, size_t* total) {
  std::vector<HeadLayout> heads(heads_kv);
  size_t base = 0;
  for (int j = 0; j < heads_kv; ++j) {
    heads[j] = head_layout(s, d, len_per_head ? len_per_head[j] : len_k);
    heads[j].base = base;
    base += heads[j].bytes;
  }
  if (total) *total = std::max<size_t>(base, 64);
  return heads;
}

}  // namespace
}  // namespace attnbench::cpu::kv

// The fp64 oracle: materialised scores, exact softmax, no tiling. Every kernel
// test and every correctness case compares against it.
#pragma once

#include <cstdint>
#include <span>

#include "attnbench/plugin_abi.h"

namespace attnbench {

/// One output row: batch b, query head h, query index i.
struct RowId {
  int32_t b, h, i;
};

/// Actual lengths of batch b (varlen-aware).
int effective_len_q(const ab_attention_args& a, int b);
int effective_len_k(const ab_attention_args& a, int b);

/// Exact attention in fp64 for the given rows. q is [B,Hq,Lq,d], k/v are the
/// contiguous [B,Hkv,Lk,d] fp32 values (paged caches must be gathered first);
/// out holds rows.size()*d values. Rows with no visible key produce zeros.
void reference_attention_rows(const ab_attention_args& a, const float* q, const float* k,
                              const float* v, std::span<const RowId> rows, double* out);

/// Exact attention for every valid row, written into o as [B,Hq,Lq,d] (rows past a
/// varlen length are left untouched).
void reference_attention(const ab_attention_args& a, const float* q, const float* k,
                         const float* v, double* o);

}  // namespace attnbench

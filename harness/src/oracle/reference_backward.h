// The fp64 oracle of the backward pass (training attention): exact gradients dQ, dK, dV
// of attention given dO, from materialised probabilities (reference_probabilities), so
// masks, GQA and varlen follow the forward oracle's rules exactly.
#pragma once

#include <span>

#include "reference_attention.h"

namespace attnbench {

/// One key row of K / V: batch b, KV head hk, key index j.
struct KeyId {
  int32_t b, hk, j;
};

/// Exact forward O [B,Hq,Lq,d] and natural-log LSE [B,Hq,Lq] in fp64 (the inputs of a
/// backward call). Rows that see no key get O = 0 and LSE = -inf; rows past a varlen
/// length are left untouched.
void reference_forward_lse(const ab_attention_args& a, const float* q, const float* k, const float* v, double* o,
                           double* lse);

/// Same for the given rows only, written at their places in the full o and lse tensors
/// (callers split the rows between threads).
void reference_forward_lse_rows(const ab_attention_args& a, const float* q, const float* k, const float* v,
                                std::span<const RowId> rows, double* o, double* lse);

/// Exact dQ of the given rows (rows.size() x d values in out): O(len_k * d) per row.
void reference_backward_dq_rows(const ab_attention_args& a, const float* q, const float* k, const float* v,
                                const float* d_o, std::span<const RowId> rows, double* out);

/// Exact dK and dV of the given key rows (keys.size() x d values each), from the exact
/// forward o and lse (reference_forward_lse): O(len_q * group * d) per key, so a
/// sampled check of a long case need not materialise anything.
void reference_backward_kv_rows(const ab_attention_args& a, const float* q, const float* k, const float* v,
                                const float* d_o, const double* o, const double* lse, std::span<const KeyId> keys,
                                double* dk, double* dv);

/// Exact gradients of attention in fp64 for the upstream gradient d_o (layout of O):
/// dq [B,Hq,Lq,d], dk and dv [B,Hkv,Lk,d]. dk and dv of a KV head sum the contributions
/// of every query head sharing it (GQA). Inputs are the fp32 values the kernel sees
/// (after rounding to the dtype), contiguous KV. Outputs are overwritten (zeros where no
/// row attends). Throws std::invalid_argument for softcap > 0 (not modelled).
void reference_backward(const ab_attention_args& a, const float* q, const float* k, const float* v,
                        const float* d_o, double* dq, double* dk, double* dv);

}  // namespace attnbench

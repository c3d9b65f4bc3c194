// The fp64 oracle: materialised scores, exact softmax, no tiling. Every kernel
// test and every correctness case compares against it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "attnbench/attention_hooks.h"
#include "attnbench/plugin_abi.h"

namespace attnbench {

/// One output row: batch b, query head h, query index i.
struct RowId {
  int32_t b, h, i;
};

/// Actual lengths of batch b (varlen-aware).
int effective_len_q(const ab_attention_args& a, int b);
int effective_len_k(const ab_attention_args& a, int b);
/// Value / output head dim of `a`: head_dim_v, or head_dim when it is 0.
int value_dim(const ab_attention_args& a);

/// Which keys a query row sees, as the oracle judges it: the mask hook of the arguments
/// (causal, window) or, when tree_branch > 0, the draft-tree mask of the `tree` variant.
struct KeyMask {
  MaskHook mask{0, -1, -1};
  int tree_branch = 0;

  /// The mask of plain arguments (causal and window from `a`, no tree).
  static KeyMask of(const ab_attention_args& a) { return KeyMask{{a.causal, a.window_left, a.window_right}, 0}; }

  /// Smallest key range holding every visible key of row i.
  KeyRange bounds(int i, int len_q, int len_k) const {
    if (tree_branch > 0) return KeyRange{0, len_k - len_q + i + 1};
    return mask.keys_for(i, len_q, len_k);
  }
  /// Whether key k is visible from row i.
  bool visible(int i, int k, int len_q, int len_k) const {
    return tree_branch > 0 ? TreeHook{tree_branch}.visible(i, k, len_q, len_k) : mask.visible(i, k, len_q, len_k);
  }
  /// Number of visible keys of row i.
  long long count(int i, int len_q, int len_k) const {
    const KeyRange r = bounds(i, len_q, len_k);
    if (tree_branch > 0) return r.empty() ? 0 : (len_k - len_q) + TreeHook{tree_branch}.depth(i) + 1;
    return r.hi - r.lo;
  }
};

/// Exact softmax probabilities of row `row` over keys [0, len_k of its batch) in fp64
/// (zero where masked); returns false when the row sees no key (p is all zero).
bool reference_probabilities(const ab_attention_args& a, const KeyMask& mask, const float* q, const float* k,
                             RowId row, std::vector<double>& p);

/// Exact attention in fp64 for the given rows. q is [B,Hq,Lq,d], k is [B,Hkv,Lk,d] and
/// v [B,Hkv,Lk,dv] contiguous fp32 values (paged caches must be gathered first), dv =
/// value_dim(a); out holds rows.size()*dv values. Rows with no visible key produce zeros.
void reference_attention_rows(const ab_attention_args& a, const float* q, const float* k,
                              const float* v, std::span<const RowId> rows, double* out);

/// Same, with an explicit key mask (the `tree` variant's oracle).
void reference_attention_rows(const ab_attention_args& a, const KeyMask& mask, const float* q, const float* k,
                              const float* v, std::span<const RowId> rows, double* out);

/// Exact attention for every valid row, written into o as [B,Hq,Lq,dv] (rows past a
/// varlen length are left untouched).
void reference_attention(const ab_attention_args& a, const float* q, const float* k,
                         const float* v, double* o);

}  // namespace attnbench

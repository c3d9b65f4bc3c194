// Attention variants as small structs of hooks (mask, logits transform), shared
// verbatim by the CPU and GPU kernels and by the fp64 reference, so every backend
// instantiates the same definitions. C++17, no standard library, host/device safe.
#pragma once

#include "attnbench/device_compat.h"

namespace attnbench {

/// Half-open range of key indices [lo, hi) that one query row may attend to.
struct KeyRange {
  int lo;
  int hi;
  AB_INLINE bool empty() const { return hi <= lo; }
};

/// Mask hook: causal (bottom-right aligned) and sliding window (left, right).
/// Query row i sits at key position i + (len_k - len_q), so for len_q < len_k the
/// queries are the *last* len_q tokens of the sequence (decode, chunked prefill).
struct MaskHook {
  int causal;        // nonzero: keys after the query position are masked
  int window_left;   // < 0: unlimited
  int window_right;  // < 0: unlimited

  /// Visible keys of query row `q_row` for a sequence of len_q queries and len_k keys.
  AB_INLINE KeyRange keys_for(int q_row, int len_q, int len_k) const {
    const long long pos = static_cast<long long>(q_row) + (len_k - len_q);
    long long lo = 0, hi = len_k;
    if (causal && pos + 1 < hi) hi = pos + 1;
    if (window_left >= 0 && pos - window_left > lo) lo = pos - window_left;
    if (window_right >= 0 && pos + window_right + 1 < hi) hi = pos + window_right + 1;
    if (hi < lo) hi = lo;
    if (lo > len_k) lo = hi = len_k;
    return KeyRange{static_cast<int>(lo), static_cast<int>(hi)};
  }

  /// Whether key `k` is visible from query row `q_row` (same rule as keys_for).
  AB_INLINE bool visible(int q_row, int k, int len_q, int len_k) const {
    const KeyRange r = keys_for(q_row, len_q, len_k);
    return k >= r.lo && k < r.hi;
  }
};

/// Tree mask for speculative-decoding verification (Medusa, SpecInfer): the last len_q
/// keys are the nodes of a draft tree, the keys before them its shared prefix. Nodes are
/// numbered in breadth-first order of a complete `branch`-ary tree (node n > 0 has parent
/// (n - 1) / branch), so a parent always precedes its children. Query row i is node i:
/// it sees every prefix key and the tree keys of its ancestors and itself. branch = 1
/// is a chain, i.e. plain bottom-right causal attention.
struct TreeHook {
  int branch;  // >= 1

  AB_INLINE int parent(int node) const { return node == 0 ? -1 : (node - 1) / branch; }

  /// Depth of a node (the root is 0): it sees depth + 1 tree keys.
  AB_INLINE int depth(int node) const {
    int dep = 0;
    for (int n = node; n > 0; n = parent(n)) ++dep;
    return dep;
  }

  /// Whether key `k` is visible from query row `q_row` (requires len_q <= len_k).
  AB_INLINE bool visible(int q_row, int k, int len_q, int len_k) const {
    const int prefix = len_k - len_q;
    if (k < prefix) return k >= 0;
    const int node = k - prefix;
    int n = q_row;
    while (n > node) n = parent(n);  // ancestors have smaller numbers
    return n == node;
  }
};

/// Logits hook: scale, then optional soft-capping (Gemma-2 style tanh cap).
struct LogitsHook {
  float scale;
  float softcap;  // 0 = off

  template <class T>
  AB_INLINE T apply(T raw, T (*tanh_fn)(T)) const {
    T x = raw * static_cast<T>(scale);
    if (softcap > 0.0f) x = static_cast<T>(softcap) * tanh_fn(x / static_cast<T>(softcap));
    return x;
  }
};

/// GQA/MQA head mapping: query head h reads KV head h / group.
AB_INLINE int kv_head_of(int q_head, int heads_q, int heads_kv) {
  return q_head / (heads_q / heads_kv);
}

}  // namespace attnbench

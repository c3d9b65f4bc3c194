// Chunked attention with log-sum-exp merge, shared by the variants that split the keys
// of a KV head into chunks computed apart (prefix_shared, tree). A chunk is attended by
// many query rows at once with the decode microkernels (each K/V row is loaded once
// for all of them), and leaves per row a partial (max, sum, unnormalised accumulator)
// in one slot of a Partials table; merge() combines the slots of every row.
// Partials live in the log2 domain: logits are scaled by scale * log2(e), so a slot
// holds m = max logit, l = sum 2^(s - m), o = sum 2^(s - m) v.
#pragma once

#include <cstddef>

#include "attnbench/attention_hooks.h"
#include "attnbench/plugin_abi.h"
#include "decode_microkernel.h"

AB_CPU_NS_BEGIN

/// Query positions (len_q) attend_chunk handles: its per-query key ranges live on the stack.
inline constexpr int kMaxChunkQueries = 256;

/// Keys per chunk rounded up to whole microkernel key blocks (a partial block would be masked).
inline int round_chunk(int keys) { return (keys + kDecodeKeys - 1) / kDecodeKeys * kDecodeKeys; }

/// Partials of all (b, hk): `slots` per (b, hk), rows_max rows per slot. Row r of a
/// slot is query row (head hk * group + r / len_q, position r % len_q); rows_max is
/// group * len_q.
struct Partials {
  float *o, *m, *l;  // o: dpad floats per row; m, l: one float per row
  int slots, rows_max, dpad, heads_kv;
  /// Index of row r of slot `slot` of (b, hk) (multiply by dpad for o).
  size_t index(int b, int hk, int slot, int r) const {
    return ((static_cast<size_t>(b) * heads_kv + hk) * slots + slot) * rows_max + r;
  }
};

/// Partials for `a` with `slots` slots per (b, hk), in a buffer owned by the calling
/// thread (reused by its next call; contents undefined).
Partials alloc_partials(const ab_attention_args& a, int slots);

/// Marks every row of every slot as having seen no key (m = -inf, l = 0).
void clear_partials(const ab_attention_args& a, const Partials& P);

/// Keys [c0, c1) of KV (kb, hk) for the query rows of sequences [b0, b1) (all heads of
/// the group, all queries), each row restricted to the keys `mask` shows it: every
/// K/V row is read once for all rows. Row r is sequence b0 + r / rows_max, local row
/// r % rows_max. Writes the partial of each row to slot `slot` of its own sequence.
/// Needs len_q <= kMaxChunkQueries and contiguous KV; any dtype and head dim.
void attend_chunk(const ab_attention_args& a, const MaskHook& mask, int kb, int hk, int c0, int c1, int b0,
                  int b1, int slot, const Partials& out);

/// Log-sum-exp merge of all slots of (b, hk) into the output rows (zeros for a row
/// that no slot saw a key for).
void merge(const ab_attention_args& a, int b, int hk, const Partials& P);

AB_CPU_NS_END

// Static sparse attention patterns (tier 2): which keys each query row attends to.
// The selection is a pure function of (pattern, mask, head, row, lengths), so it is
// unit-testable on small inputs and shared by the kernel (sparse_static_kernel.cpp).
//
//  * neighborhood / sliding_window (Generalized Neighborhood Attention): the window is
//    the case's mask window (window=LEFT:RIGHT, in dilated steps) around a centre;
//    options dilation (every d-th key), stride (groups of `stride` queries share the
//    centre of their group; under causal the group's first position), blocked=1 (window
//    snapped outward to key blocks of `block` keys; needs dilation=1). Windows are
//    clipped at the sequence edges (not shifted as in NATTEN); causal keeps keys <= pos.
//  * power (PowerAttention, causal only): keys within `local` positions to the left,
//    the query's own key block, and key blocks 2^i blocks back (i = 0, 1, 2, ...).
//  * strided_heads (S2-Attention): query head h of H attends keys j with j % H == h
//    plus a local window of `local` keys (left only under causal).
// power and strided_heads also honour the case's causal / window mask (intersection).
// Positions: query row i sits at key position i + len_k - len_q (bottom-right aligned).
#pragma once

#include <string>
#include <vector>

#include "attnbench/attention_hooks.h"
#include "cpu_kernels.h"
#include "extra_variants.h"

AB_CPU_NS_BEGIN

/// A parsed static pattern with its options (defaults as documented above).
struct StaticPattern {
  enum class Kind { kNeighborhood, kPower, kStridedHeads };
  Kind kind = Kind::kNeighborhood;
  int dilation = 1;  // neighborhood
  int stride = 1;    // neighborhood
  int blocked = 0;   // neighborhood: 1 = snap the window to key blocks
  int block = 64;    // neighborhood (blocked) and power: key block size
  int local = 64;    // power and strided_heads: local window (keys to the left)
};

/// Parses the options of variant `base` ("neighborhood", "sliding_window", "power",
/// "strided_heads") into `out`. AB_INVALID_ARGUMENT with the reason for an unknown
/// option or a malformed / out-of-range value; AB_UNSUPPORTED for valid but unsupported
/// combinations (blocked with dilation > 1).
Check parse_static_pattern(const std::string& base, const VariantOptions& options, StaticPattern& out);

/// Appends to `out` (cleared first) the sorted, unique keys that query row `q_row` of
/// query head `head` (of `heads_q`) attends to under `p` and the case mask `mask`.
void select_keys(const StaticPattern& p, const MaskHook& mask, int head, int heads_q, int q_row,
                 int len_q, int len_k, std::vector<int>& out);

/// The selection of a block of rows i0, i0 + step, ... (`rows` of them) of query head
/// `head` in packed form: key_of lists the keys any of the rows attends (ascending), and
/// ranges[r] gives row r's keys as disjoint ascending ranges of positions in key_of. A
/// dilated or head-sharded row, one key in several, is then a few ranges instead of one
/// range per key. False (outputs unspecified) when the rows' stepped runs lie on different
/// lattices (e.g. stride and dilation mixed): the caller selects row by row (select_keys).
bool select_block(const StaticPattern& p, const MaskHook& mask, int head, int heads_q, int i0, int step, int rows,
                  int len_q, int len_k, std::vector<int>& key_of, std::vector<KeyRange>* ranges);

/// Selected (query, key) pairs summed over all rows and `heads_q` heads of one sequence.
double selected_pairs(const StaticPattern& p, const MaskHook& mask, int heads_q, int len_q, int len_k);

/// Density of the pattern: selected pairs / pairs of dense attention (the same causal
/// flag, no window) for one sequence; 1 = dense. The kernel's work is proportional to it.
double selection_density(const StaticPattern& p, const MaskHook& mask, int heads_q, int len_q, int len_k);

/// Speedup over dense attention predicted from the density alone: 1 / density
/// (the number the catalog asks to report next to the achieved speedup).
double predicted_speedup(const StaticPattern& p, const MaskHook& mask, int heads_q, int len_q, int len_k);

/// Capability check of a static-pattern variant (extra_variants table entry).
Check static_pattern_supports(const char* base, const ab_attention_args& a, const VariantOptions& options);

/// Runs a static-pattern variant: per (batch, head, block of query rows) it gathers the
/// union of the rows' selected keys and runs an online softmax over it, tile by tile.
void static_pattern_run(const char* base, const ab_attention_args& a, const VariantOptions& options);

/// Table entry points (one per registered name).
Check neighborhood_supports(const ab_attention_args& a, const VariantOptions& o);
void neighborhood_run(const ab_attention_args& a, const VariantOptions& o);
Check sliding_window_supports(const ab_attention_args& a, const VariantOptions& o);
void sliding_window_run(const ab_attention_args& a, const VariantOptions& o);
Check power_supports(const ab_attention_args& a, const VariantOptions& o);
void power_run(const ab_attention_args& a, const VariantOptions& o);
Check strided_heads_supports(const ab_attention_args& a, const VariantOptions& o);
void strided_heads_run(const ab_attention_args& a, const VariantOptions& o);

AB_CPU_NS_END

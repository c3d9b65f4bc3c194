// `star` (Star Attention, Acharya et al., NVIDIA 2024) on the CPU: a two-phase prefill.
// Positions: query row i sits at key position p = i + len_k - len_q (bottom-right).
//  * Phase 1, context encoding: the context (positions p < len_k - query) is cut into
//    blocks of `block` tokens; a row of block c attends the anchor block (keys
//    [0, block)) plus its own block's keys up to itself (causal). Block 0 is its own
//    anchor. In the paper each block sits on its own host with the anchor prepended, so
//    no host holds more than 2 blocks of KV: that is where its memory and time saving
//    (up to 11x) comes from; here the same pairs are computed on one host.
//  * Phase 2, query encoding: the last `query` rows (the question tokens, positions
//    p >= len_k - query) attend every visible key (exact attention for them).
// Both phases run exact softmax over their keys on the block-sparse row kernel
// (sparse_rows.h) and intersect with the case's mask. Causal only. With one block
// covering the context (block >= len_k) every row is exact.
// Options: block (default 512), query (default 64).
#pragma once

#include <vector>

#include "attnbench/attention_hooks.h"
#include "extra_variants.h"

AB_CPU_NS_BEGIN

/// The keys of the row at position `pos` under star with context blocks of `block`
/// tokens and the last `query` positions of a `len_k`-key sequence global, intersected
/// with `visible` (the mask's range of the row): ascending, disjoint ranges.
std::vector<KeyRange> star_ranges(int pos, int len_k, int block, int query, KeyRange visible);

/// Capability check of star: causal cases only; validates its options.
Check star_supports(const ab_attention_args& a, const VariantOptions& options);

/// Runs star (options already accepted by star_supports).
void star_run(const ab_attention_args& a, const VariantOptions& options);

AB_CPU_NS_END

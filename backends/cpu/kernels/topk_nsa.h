// `nsa` (Native Sparse Attention, DeepSeek 2025) on the CPU, causal. Every query
// position p (row i sits at key position p = i + len_k - len_q) combines three branches:
//  (a) compressed tokens: compressed token j stands for keys [j*stride, j*stride+block)
//      by their mean key and mean value (mean pooling; the paper learns an MLP with
//      position encoding for it); p attends the tokens whose keys all lie at or before
//      it (and inside the case's mask), exact softmax with the case's scale/softcap.
//  (b) selection: keys are cut into selection blocks of `select` tokens; a block's
//      importance is the sum of the compressed branch's probabilities of the tokens
//      overlapping it (the paper's eq. 9 for any block/stride/select), summed over the
//      query heads that share the KV head (NSA shares the selection across a GQA
//      group); the top `k` blocks plus the first block and p's own (local) block are
//      attended exactly (ties: lower block first; keys after p masked).
//  (c) sliding window: the last `window` keys up to p, exact softmax.
// Output = g_a o_a + g_b o_b + g_c o_c. The paper's gates are learned sigmoid outputs per
// head and position; without training they are fixed here: weights gate_cmp, gate_slc,
// gate_win (default 1, 1, 1: the untrained sigmoid(0) = 1/2 each, i.e. equal), divided by
// their sum over the branches that have keys for the row (no compressed token exists
// before p = block - 1), so the output is a convex combination comparable with full
// attention. Per position, the heads of a GQA group attend their shared compressed and
// selected keys together (group_keys.h: NSA's group-centric kernel); the window branch,
// whose keys consecutive positions share, runs 32 positions of a head at a time on the
// row kernel (sparse_rows.h). Pairs counted: compressed tokens scored plus the selected
// and window keys (a key in both is computed, and counted, twice).
// Options: block (32), stride (16), select (64), k (16), window (512), gate_cmp (1),
// gate_slc (1), gate_win (1) - the paper's sizes.
#pragma once

#include <vector>

#include "extra_variants.h"

AB_CPU_NS_BEGIN

/// Selection blocks kept for one position: block 0, `local`, and the `k` blocks of
/// largest importance[] among [first, importance.size()) other than those two (ties:
/// lower block first); ascending, no duplicates.
std::vector<int> nsa_select(const std::vector<float>& importance, int first, int k, int local);

/// Capability check of nsa: causal cases only; validates its options.
Check nsa_supports(const ab_attention_args& a, const VariantOptions& options);

/// Runs nsa (options already accepted by nsa_supports).
void nsa_run(const ab_attention_args& a, const VariantOptions& options);

AB_CPU_NS_END

// `probsparse` (ProbSparse self-attention, Informer, Zhou et al. 2021) on the CPU. Per
// (batch, query head) and query i, the sparsity measure
//   M(q_i) = max_j (s q_i . k_j) - mean_j (s q_i . k_j)
// is estimated on `sample` keys drawn uniformly with replacement from the keys row i
// sees (all keys; its causal prefix under a causal mask), from a counter-based hash of
// (batch, head, row, draw), so the draws are fixed and independent of threading. Informer
// draws U = factor * ceil(ln L_K) keys per query the same way (over all keys even when
// masked; here over the visible ones) and divides the sampled sum by L_K; the mean here
// is over the sample, the paper's definition. The u = factor * ceil(ln L_Q) queries of
// largest M get exact softmax attention over all their visible keys; every other row
// outputs mean(V) over its visible keys: the mean of all V non-causal, the cumulative
// mean of V up to its position causal (Informer's decoder initialises those rows with
// V's cumulative sum; the mean keeps them on V's scale). u and sample are capped at the
// lengths; u >= L_Q makes the result exact attention.
// Options: factor (default 5, >= 1), sample (default 0: factor * ceil(ln L_K)).
// Causal or not; softcap applies to the exact rows' logits; no mask window. Counts the
// exact rows' visible keys as its pairs (the sampled scores and the mean rows weight no
// pair).
#pragma once

#include "extra_variants.h"

AB_CPU_NS_BEGIN

/// Capability check of probsparse: options valid, no mask window.
Check probsparse_supports(const ab_attention_args& a, const VariantOptions& options);

/// Runs probsparse (options already accepted by probsparse_supports).
void probsparse_run(const ab_attention_args& a, const VariantOptions& options);

/// Informer's count factor * ceil(ln n) (at least 1, at most n): active queries for n =
/// L_Q, sampled keys for n = L_K.
int probsparse_count(int factor, int n);

AB_CPU_NS_END

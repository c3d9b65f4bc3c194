// `hyper` (HyperAttention) on the CPU: queries and keys
// of each head are hashed by `bits` random hyperplanes (angular LSH, fixed seed, one
// set per call), stably sorted by bucket, and cut into nb = ceil(len_q / block) blocks
// (query block j = sorted queries [j*block, ...), key block j = sorted keys
// [j*len_k/nb, (j+1)*len_k/nb)). Each query attends exactly to its diagonal key block
// plus `samples` keys drawn uniformly (with replacement, fixed seed per head) that lie
// outside that block, each standing for len_k/samples keys in the softmax. With
// samples >= len_k every off-block key is used once instead, so bits=0 with
// block >= len_q, or samples >= len_k, is exact attention.
//
// Causal (and sliding-window) masks use a simpler form than the paper's recursive
// causal split: the diagonal block of the sorted order is masked by original
// positions (a key is used only if the mask lets the query see it, i.e. its original
// position <= the query's under causal), and each query block draws its `samples`
// columns uniformly from the union of its queries' visible ranges (a fixed seed per
// head and block; draws inside the diagonal block dropped), each standing for
// |union|/samples keys; a query keeps the drawn columns it may see, an unbiased estimate
// of its off-block visible mass. With samples >= len_k every visible off-block key is
// used once, so the result is exact masked attention.
// A block's keys (its diagonal block and its draws) are shared by its queries, so each
// block runs on the block-sparse tile kernel (sparse_rows.h) with the draws' weights as
// log2 offsets of their logits.
// Options: bits (0..16, default 4), block (default 64), samples (default 64).
#pragma once

#include "extra_variants.h"

AB_CPU_NS_BEGIN

/// Capability check of hyper: options valid (every mask is accepted).
Check hyper_supports(const ab_attention_args& a, const VariantOptions& options);

/// Runs hyper (options already accepted by hyper_supports).
void hyper_run(const ab_attention_args& a, const VariantOptions& options);

AB_CPU_NS_END

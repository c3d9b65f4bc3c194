// `prefix_shared` on the CPU: decode (len_q 1..16, contiguous KV) where the first
// `prefix` keys and values are identical across the batch and stored once: they are
// read from batch 0 only (ChunkAttention two-phase partition). Phase 1: per prefix
// chunk and KV head, the query rows of all sequences (and the whole GQA group) run
// together against the chunk, so each prefix K/V row is loaded once for batch x group
// rows. Phase 2: each sequence's own keys [prefix, len_k) as in decode. The partial
// (max, sum, accumulator) of every chunk are merged by log-sum-exp.
// Options: prefix (required, 0 <= prefix <= len_k), chunk (keys per prefix/suffix
// chunk, default 512, rounded up to a multiple of 16). Softcap is supported;
// varlen and non-trivial windows are refused.
#pragma once

#include "extra_variants.h"

AB_CPU_NS_BEGIN

/// Capability check of prefix_shared: options valid (prefix given and <= len_k),
/// len_q <= 16, no per-sequence lengths, no window that hides any key.
Check prefix_shared_supports(const ab_attention_args& a, const VariantOptions& options);

/// Runs prefix_shared (options already accepted by prefix_shared_supports).
void prefix_shared_run(const ab_attention_args& a, const VariantOptions& options);

AB_CPU_NS_END

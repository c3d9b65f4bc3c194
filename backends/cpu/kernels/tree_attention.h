// `tree` on the CPU: speculative-decoding tree verification (LongSpec / Medusa). The
// last len_q keys of each sequence are the nodes of a complete `branch`-ary draft tree
// in BFS order (node n > 0 has parent (n - 1) / branch); the keys before them are the
// prompt prefix. Query row i is node i and sees the whole prefix plus its ancestors and
// itself (TreeHook). Phase 1: per (sequence, KV head, prefix chunk) all rows of the GQA
// group attend the chunk densely (chunk_partials' attend_chunk, one K/V read for all
// rows). Phase 2: each row attends its <= depth + 1 tree keys (scalar; few keys) into
// one more slot. The slots are merged by log-sum-exp.
// Options: branch (1..64, default 2; 1 is a chain, i.e. bottom-right causal attention),
// chunk (prefix keys per phase-1 item, default 512, rounded up to a multiple of 16).
// Softcap is supported; the causal flag may be on or off (the tree mask implies it);
// varlen, windows and len_q > 256 are refused.
#pragma once

#include "extra_variants.h"

AB_CPU_NS_BEGIN

/// Capability check of tree: options valid, len_q <= 256 and <= len_k, no per-sequence
/// lengths, no sliding window.
Check tree_supports(const ab_attention_args& a, const VariantOptions& options);

/// Runs tree (options already accepted by tree_supports).
void tree_run(const ab_attention_args& a, const VariantOptions& options);

AB_CPU_NS_END

// `tree` on the CPU: speculative-decoding tree verification (LongSpec / Medusa). The
// last len_q keys of each sequence are the nodes of a complete `branch`-ary draft tree
// in BFS order (node n > 0 has parent (n - 1) / branch); the keys before them are the
// prompt prefix. Query row i is node i and sees the whole prefix plus its ancestors and
// itself (TreeHook). Prefix: every row sees every prefix key, so it is non-causal flash
// over the first len_k - len_q keys of each sequence (per-sequence key lengths), with
// flash's log-sum-exp output; it runs on flash's fastest path (VDPBF16PS for bf16). Tree:
// each row attends its <= depth + 1 tree keys (scalar; few keys), merged with its prefix
// result by log-sum-exp.
// Options: branch (1..64, default 2; 1 is a chain, i.e. bottom-right causal attention).
// Softcap is supported; the causal flag may be on or off (the tree mask implies it);
// varlen and windows are refused.
#pragma once

#include "extra_variants.h"

AB_CPU_NS_BEGIN

/// Capability check of tree: options valid, len_q <= len_k, no per-sequence lengths, no
/// sliding window.
Check tree_supports(const ab_attention_args& a, const VariantOptions& options);

/// Runs tree (options already accepted by tree_supports).
void tree_run(const ab_attention_args& a, const VariantOptions& options);

AB_CPU_NS_END

// `landmark` (after Landmark Attention, Mohtashami & Jaggi 2023) on the CPU: keys are
// cut into blocks of `block` tokens, each represented by one landmark key, and the
// landmarks gate top-k block retrieval. The paper trains a landmark token per block;
// without training the landmark here is the block's own key with the largest L2 norm
// (q-independent, ties: the earlier key): the key a dot-product score favours most on
// average, and a real key of the block, unlike MoBA's mean key (block_topk), which
// averages the block's directions away. A query block (rows aligned with the key
// blocks, as in block_topk; per_query=1: each row, the paper's per-token retrieval)
// scores every visible key block by q . landmark (raw, no scale/softcap), keeps the
// top `k` plus its local (diagonal) block, and runs exact softmax attention over the
// kept keys the mask leaves visible (sparse_rows.h). With k >= the number of visible
// blocks it is exact attention. Its own variant rather than a block_topk score option
// so that it has its own line in lists, suites and reports next to block_topk.
// Options: block (default 64), k (default 8), per_query (0|1, default 0).
#pragma once

#include <vector>

#include "extra_variants.h"

AB_CPU_NS_BEGIN

/// Index (within the block) of the landmark of the `n` keys at `keys` (rows of d):
/// the key with the largest L2 norm, the earliest among equal ones; -1 when n = 0.
int landmark_of_block(const float* keys, int n, int d);

/// Capability check of landmark: validates its options.
Check landmark_supports(const ab_attention_args& a, const VariantOptions& options);

/// Runs landmark (options already accepted by landmark_supports).
void landmark_run(const ab_attention_args& a, const VariantOptions& options);

AB_CPU_NS_END

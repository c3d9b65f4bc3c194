// `block_topk` (MoBA-style block routing) on the CPU: keys are cut into blocks of
// `block` tokens; queries are grouped by position into blocks aligned with the key
// blocks (query row i sits at key position i + len_k - len_q). Each query block
// scores every visible key block by mean(Q_block) . mean(K_block) (per_query=1: each
// query row scores with its own q, MoBA's per-token gating), keeps the top `k` blocks
// plus its local (diagonal) block, and runs exact softmax attention over the kept
// keys that the mask leaves visible. Routing scores use raw q . k (no scale/softcap).
// Options: block (default 64), k (default 8), per_query (0|1, default 0).
#pragma once

#include <functional>
#include <vector>

#include "extra_variants.h"
#include "topk_common.h"

AB_CPU_NS_BEGIN

/// Capability check of block_topk: validates its options (ranges, unknown keys).
Check block_topk_supports(const ab_attention_args& a, const VariantOptions& options);

/// Runs block_topk (options already accepted by block_topk_supports).
void block_topk_run(const ab_attention_args& a, const VariantOptions& options);

/// The routing step on its own: among key blocks `candidates`, the k with the largest
/// q . means[j*d ..] (ties: lower block first), plus `local`; sorted, no duplicates.
std::vector<int> block_topk_route(const float* q, const float* means, int d, const std::vector<int>& candidates,
                                  int k, int local);

/// Writes the representative of the n key rows at `keys` (n >= 1, rows of d) to `out`
/// (d floats, zeroed).
using BlockReducer = std::function<void(const float* keys, int n, int d, float* out)>;

/// One representative key per key block of `block` tokens, [batch, heads_kv, blocks, d]:
/// `reduce` over each block's keys (a short last block gives what it has).
std::vector<float> block_representatives(const ab_attention_args& a, const topk::KvF32& kv, int block, int blocks,
                                         const BlockReducer& reduce);

/// Routes every query block (per_query: every row) to the top-k key blocks by
/// q . reps[block] plus its local block (block_topk_route) and attends them exactly
/// (topk::attend_routed_blocks). reps as block_representatives returns them.
void block_topk_attend(const ab_attention_args& a, int block, int k, bool per_query, const std::vector<float>& reps);

AB_CPU_NS_END

// `flexprefill` (FlexPrefill, query-aware block selection by attention mass) on the
// CPU. Keys are cut into blocks of `block` tokens and queries into blocks aligned with
// them (query row i sits at key position i + len_k - len_q), as in block_topk. Per
// query head and query block, the last `sample` query rows of the block estimate the
// attention mass of every key block: each sampled row's exact softmax (scale, softcap)
// over its visible keys, summed per key block and averaged over the sampled rows. The
// local (diagonal) block is always kept and its mass counted first; the other blocks
// are added by decreasing mass (ties: the earlier block) until the kept mass reaches
// gamma times the total: the smallest such set. gamma = 1 keeps every visible block
// (exact attention). Exact softmax attention then runs over the kept blocks, each row
// over the keys the mask leaves visible. Estimation costs sample/block of the dense
// score work. Options: block (default 128), sample (default 8), gamma (in (0, 1],
// default 0.9).
#pragma once

#include <vector>

#include "extra_variants.h"

AB_CPU_NS_BEGIN

/// Capability check of flexprefill: validates its options (ranges, unknown keys).
Check flexprefill_supports(const ab_attention_args& a, const VariantOptions& options);

/// Runs flexprefill (options already accepted by flexprefill_supports).
void flexprefill_run(const ab_attention_args& a, const VariantOptions& options);

/// The selection on its own: `mass[j]` is the estimated mass of block j; keeps `local`
/// (when in range) and then the heaviest blocks until the kept mass reaches gamma times
/// the total (every block when gamma >= 1). Sorted block indices.
std::vector<int> flexprefill_select(const std::vector<float>& mass, float gamma, int local);

AB_CPU_NS_END

// `hip` (HiP Attention, hierarchical top-k) on the CPU. Keys are cut into blocks of
// `block` tokens and queries into blocks aligned with them (query row i sits at key
// position i + len_k - len_q), as in block_topk. Per query block, the visible key
// blocks other than the local (diagonal) one are the candidates: they start as k
// contiguous groups (of about equal block counts); each round splits every kept
// group of more than one block in two halves, scores each half by its representative
// key (the key at the centre of the half's token span: HiP's branch representative)
// against the mean query of the block (raw q . k, no scale/softcap), and keeps the
// top-k halves (ties: the earlier half). Rounds stop when every kept group is a single
// block: k blocks in about log2(blocks / k) rounds, 2k scores each, so routing costs
// O((T / block) k log T) dot products. Exact softmax attention then runs over the
// kept blocks plus the local block, each row over the keys the mask leaves visible.
// With k >= the number of candidate blocks everything is kept (exact attention).
// Options: block (default 64), k (default 8).
#pragma once

#include <functional>
#include <vector>

#include "extra_variants.h"

AB_CPU_NS_BEGIN

/// Capability check of hip: validates its options (ranges, unknown keys).
Check hip_supports(const ab_attention_args& a, const VariantOptions& options);

/// Runs hip (options already accepted by hip_supports).
void hip_run(const ab_attention_args& a, const VariantOptions& options);

/// The hierarchical routing on its own: candidate key blocks (ascending) of `block`
/// tokens, keys visible in [span_lo, span_hi); `score(t)` is the score of key token t.
/// Returns the kept blocks plus `local` (when >= 0), sorted, no duplicates.
std::vector<int> hip_route(const std::vector<int>& candidates, int block, int span_lo, int span_hi, int k,
                           const std::function<float(int)>& score, int local);

AB_CPU_NS_END

// `topk_decode` on the CPU: query-aware token selection at decode (len_q 1..16). Each
// query row keeps the `k` visible keys with the largest q . k of its head (exact top-k,
// ties to the earlier key), then runs softmax attention over them. vote=1 (TokenSelect
// soft voting): the heads of a GQA group share one selection, the top-k of the sum over
// the group's heads of each head's softmax probabilities over the visible keys.
//
// score=loki (Loki): keys are ranked by q . k in a rank-`rank` PCA subspace of the keys
// instead of the full dimension. Per (batch, KV head) the top-`rank` principal
// directions of the centred key covariance (d x d, over that sequence's keys, at most
// 1024 of them evenly strided: Loki calibrates its PCA offline, the sample bounds the
// per-call cost) come from
// a fixed number of block power (subspace) iterations with modified Gram-Schmidt from a
// fixed-seed start, so the result is deterministic; q and the keys are projected onto
// them and the projected dot products pick the top-k (centring shifts every key's
// score by the same q . mean, so it does not change the ranking). The attention over the
// picked keys uses full-dimension logits. With rank >= d the basis is complete and
// orthonormal, so the selection is exact top-k (up to float rounding). Loki stores keys
// already rotated into the PCA basis; one kernel call cannot keep state, so the PCA
// and the key projection are paid inside every call and are part of the timing.
//
// recycle=s (Recycled Attention): the paper reuses the top-k of the last full decode
// step for the next s steps. A kernel call sees one call only, so this is modelled
// across the len_q query rows of a call: rows 0, s+1, 2(s+1), ... run full exact
// attention over their visible keys and record their top-k by exact q . k (per head, or
// voted with vote=1); the next s rows attend to that recorded set (restricted to their
// own visible range) plus the keys that became visible after the full row (the tokens
// generated since, under a causal mask). recycle=0 is plain per-row top-k; k >= len_k
// makes every row exact. Not combinable with score=loki.
//
// Options: k (default 256, >= 1), vote (0|1, default 0), score (exact|loki, default
// exact), rank (default 32, >= 1; used by score=loki), recycle (0..15, default 0).
#pragma once

#include "extra_variants.h"

AB_CPU_NS_BEGIN

/// Capability check of topk_decode: options valid (score=loki with recycle > 0 is
/// refused) and len_q <= 16.
Check topk_decode_supports(const ab_attention_args& a, const VariantOptions& options);

/// Runs topk_decode (options already accepted by topk_decode_supports).
void topk_decode_run(const ab_attention_args& a, const VariantOptions& options);

AB_CPU_NS_END

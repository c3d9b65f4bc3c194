// `topk_decode` on the CPU: query-aware token selection at decode (len_q 1..16). Each
// query row keeps the `k` visible keys with the largest q . k of its head (exact top-k,
// ties to the earlier key), then runs softmax attention over them. vote=1 (TokenSelect
// soft voting): the heads of a GQA group share one selection, the top-k of the sum over
// the group's heads of each head's softmax probabilities over the visible keys.
// Options: k (default 256, >= 1), vote (0|1, default 0).
#pragma once

#include "extra_variants.h"

namespace attnbench::cpu {

/// Capability check of topk_decode: options valid and len_q <= 16.
Check topk_decode_supports(const ab_attention_args& a, const VariantOptions& options);

/// Runs topk_decode (options already accepted by topk_decode_supports).
void topk_decode_run(const ab_attention_args& a, const VariantOptions& options);

}  // namespace attnbench::cpu

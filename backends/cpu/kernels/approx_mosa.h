// `mosa` (Mixture of Sparse Attention, Piekos et al. 2025) on the CPU: expert-choice
// routing per head. Each query head h has a router; here, without training, its score
// for token t is r_t = k_t . w_h, the token's key against a fixed random router vector
// w_h ~ N(0, I_d) (one per query head, fixed seed). Each head selects the top-k tokens by
// r_t (ties to the earlier token) and runs exact softmax attention among the selected
// tokens only: they are both its queries and its keys, causal by original position
// (the selection keeps positions in order, so this is plain causal attention over the
// k gathered tokens). Cost O(k^2 d + T d) per head: routing reads every key once,
// attention runs on the flash kernel over the gathered [k, d] Q, K and V.
// Rows of tokens a head did not select are written as zeros: in the paper the residual
// stream carries them (and the paper multiplies the selected rows by the router's
// sigmoid weight, which exists for the router's gradient; with a fixed router it is
// omitted). Self-attention only (len_q == len_k); causal or not; softcap passed to the
// logits; no mask window, no varlen. k >= T selects every token: exact attention.
// Options: k (default 1024, >= 1). Counts k(k+1)/2 pairs per head (k^2 non-causal).
#pragma once

#include <vector>

#include "extra_variants.h"

AB_CPU_NS_BEGIN

/// Capability check of mosa: options valid, len_q == len_k, no window/varlen.
Check mosa_supports(const ab_attention_args& a, const VariantOptions& options);

/// Runs mosa (options already accepted by mosa_supports).
void mosa_run(const ab_attention_args& a, const VariantOptions& options);

/// The fixed router vectors of `heads` query heads, heads x d, N(0, 1) (tests recompute
/// the selection from them).
std::vector<float> mosa_router(int heads, int d);

AB_CPU_NS_END

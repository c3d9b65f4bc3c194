// `sea` (SEA: Sparse linear attention with an Estimated Attention mask, Lee et al. 2023)
// on the CPU. Per (batch, query head) and query row i, a linear-attention estimate of the
// row's scores, est_ij = phi(q_i) . phi(k_j) over its visible keys j, with a feature map
// of linear_feature_maps.h (default performer: positive random features of
// exp(q.k / sqrt(fdim)) on the first fdim dims); the `k` keys of largest estimate (ties to
// the earlier key) form the row's mask, and the row gets exact softmax attention (the
// case's scale and softcap) over exactly those keys. A row that sees at most k keys keeps
// them all, so k >= L_K is exact attention. SEA compresses the estimated attention matrix
// and interpolates its top-k mask; this estimates each row at full resolution (the
// estimate costs L_K x D per row, D the feature dim, against 2 L_K d for exact scores).
// Causal or not; no mask window. Options: k (default 256), feature
// (elu1|relu|taylor|performer, default performer), features (performer m, default 32),
// fdim (default d; 16 for taylor). Counts the pairs of every row's kept keys.
#pragma once

#include "extra_variants.h"

AB_CPU_NS_BEGIN

/// Capability check of sea: options valid, feature dimension at most 1024, no window.
Check sea_supports(const ab_attention_args& a, const VariantOptions& options);

/// Runs sea (options already accepted by sea_supports).
void sea_run(const ab_attention_args& a, const VariantOptions& options);

AB_CPU_NS_END

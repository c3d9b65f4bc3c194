// `routing` (Routing Transformer, Roy et al. 2021) on the CPU: content-based sparse
// attention by online k-means. Per (batch, KV head) the keys are normalised to unit
// length and clustered by spherical k-means into `clusters` centroids (0 = round(sqrt
// len_k), at least 1): centroid c starts as the normalised key at position
// floor((2c + 1) len_k / (2 clusters)) (deterministic, evenly spread), then `iters`
// rounds of: assign every key to the centroid of largest dot product (ties: lower
// index), centroid = normalised sum of its keys (an empty cluster keeps its centroid).
// Keys keep their assignment of the last round's centroids; each query row goes to the
// centroid of largest q . c (its KV head's centroids; ties: lower index). A row attends
// exactly (softmax, the case's scale and softcap) the keys of its own cluster that the
// mask leaves visible, plus its own position's key: with tied Q = K, as in the paper, a
// token always falls in its own cluster, and it keeps causal rows from going empty. The
// paper learns the centroids as a moving average over training; this is the
// inference-time version of the same clustering. With about sqrt(n) clusters of sqrt(n)
// keys each the attention costs O(n^1.5 d), the clustering O(iters n^1.5 d); the
// assignments score 32 rows at a time against all centroids on the flash score
// microkernel, rows of one cluster are attended together on the row kernel (sparse_rows.h).
// Options: clusters (default 0 = round(sqrt(len_k))), iters (default 2).
#pragma once

#include <vector>

#include "extra_variants.h"

AB_CPU_NS_BEGIN

/// Spherical k-means of the n rows of `x` (row length d) as described above:
/// `clusters` unit centroids, [clusters, d]. `assign` gets each row's cluster under
/// the returned centroids.
std::vector<float> spherical_kmeans(const float* x, int n, int d, int clusters, int iters, std::vector<int>& assign);

/// Index of the centroid (of `clusters`, rows of d) with the largest dot product with
/// `x` (ties: the lower index).
int nearest_centroid(const float* x, const float* centroids, int clusters, int d);

/// Capability check of routing: validates its options.
Check routing_supports(const ab_attention_args& a, const VariantOptions& options);

/// Runs routing (options already accepted by routing_supports).
void routing_run(const ab_attention_args& a, const VariantOptions& options);

AB_CPU_NS_END

// `flash:bias_rank=R` on the CPU (FlashBias): attention with an additive score bias given
// as low-rank factors, bias = U W^T, "appended to Q and K". The case's Q and K rows hold
// d + R values, head_dim = d + R: the last R of a query row are its U row, the last R of a
// key row its W row; V and O have dv = d (head_dim_v = head_dim - R). The logit of (i, j) is
//   s * q_i[:d] . k_j[:d] + u_i . w_j        (the bias is not scaled; softcap, if any,
//                                              applies to the whole logit)
// so no N x N bias is ever read. Kernel: Q is copied once with its first d columns
// multiplied by s (O(L (d + R)), against O(L^2 d) attention) and flash runs at head dim
// d + R with scale 1 and value dim d. Option alibi=1 only tells the harness how it filled
// U and W (exact ALiBi, rank 2); the kernel is the same.
#pragma once

#include "extra_variants.h"

AB_CPU_NS_BEGIN

/// Capability check of flash with options: bias_rank in [1, 64] below head_dim, head_dim_v
/// = head_dim - bias_rank, alibi 0 or 1 (then bias_rank 2).
Check flash_bias_supports(const ab_attention_args& a, const VariantOptions& options);

/// Runs flash:bias_rank=R (options already accepted by flash_bias_supports).
void flash_bias_run(const ab_attention_args& a, const VariantOptions& options);

AB_CPU_NS_END

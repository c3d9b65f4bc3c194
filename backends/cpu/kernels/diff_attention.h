// `diff` on the CPU: the Differential Transformer's attention,
//   O = softmax(s Q1 K1^T) V - lambda softmax(s Q2 K2^T) V,
// with Q1/Q2 and K1/K2 the first and second halves of the head dim (head_dim even), V of
// the full value dim dv (head_dim_v, any), s the arguments' scale. lambda is the option
// `lambda` (default 0.8, the paper's lambda_init for deep layers; any finite value): in the
// model it is a learned per-layer scalar, so a benchmark takes it as a constant.
// Causal masks, windows, softcap (applied to each map), GQA and varlen are supported.
// Kernel: the two maps are two runs of flash (head_dim/2, dv) on half-width copies of Q
// and K (O(L d) copying against O(L^2 d) attention), combined row by row.
#pragma once

#include "extra_variants.h"

AB_CPU_NS_BEGIN

/// Capability check of diff: option lambda finite, head_dim even, contiguous KV.
Check diff_supports(const ab_attention_args& a, const VariantOptions& options);

/// Runs diff (options already accepted by diff_supports).
void diff_run(const ab_attention_args& a, const VariantOptions& options);

/// lambda of a diff variant's options (0.8 without it); false if it is not a finite number.
bool diff_lambda(const VariantOptions& options, double& lambda);

AB_CPU_NS_END

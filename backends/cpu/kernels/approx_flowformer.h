// `flowformer` (Flowformer, Wu et al. 2022: linear attention with flow conservation) on
// the CPU, non-causal. Per (batch, query head), with phi = sigmoid applied elementwise to
// q and k (no logit scale), n sinks (queries) and m sources (keys):
//   incoming flow of sink i    I_i = phi(q_i) . sum_j phi(k_j)
//   outgoing flow of source j  O_j = phi(k_j) . sum_i phi(q_i)
//   conserved incoming flow    I^_i = phi(q_i) . sum_j phi(k_j) / O_j
//   conserved outgoing flow    O^_j = phi(k_j) . sum_i phi(q_i) / I_i
//   competition                V^_j = m softmax_j(O^)_j v_j
//   aggregation                A_i = phi(q_i) (sum_j phi(k_j)^T V^_j) / I_i
//   allocation                 R_i = sigmoid(I^_i n / m) A_i
// These are the paper's equations with the normalisations of its reference code: the
// competition softmax is scaled by m (weights average 1, so V^ stays on V's scale) and
// the allocation's argument by n / m; the code's eps terms and its clamp of O^ to [-1, 1]
// (training stability) are left out. Linear time: O((n + m) d^2) per head. The paper's
// causal form (prefix sums with their own normalisation) is not implemented: causal is
// refused. No mask window or softcap. No options. Not a subset of exact pairs; counts
// none.
#pragma once

#include "extra_variants.h"

AB_CPU_NS_BEGIN

/// Capability check of flowformer: non-causal, no window, no softcap, no options.
Check flowformer_supports(const ab_attention_args& a, const VariantOptions& options);

/// Runs flowformer (accepted by flowformer_supports).
void flowformer_run(const ab_attention_args& a, const VariantOptions& options);

AB_CPU_NS_END

// `agent` (Agent Attention, Han et al. 2024) on the CPU. Per (batch, query head), n =
// min(agents, len_q) agent tokens A are pooled from the queries: agent a is the mean of
// queries [floor(a L / n), floor((a + 1) L / n)) (average pooling of n consecutive groups,
// L = len_q). Then, with s the case's scale,
//   agent aggregation  V_A = softmax(s A K^T) V        (n x d: the agents attend every key)
//   agent broadcast    O   = softmax(s Q A^T) V_A      (every query attends the n agents)
// i.e. O = softmax(s Q A^T) (softmax(s A K^T) V). Both stages are exact softmax attention
// of a short side against a long one (n x L_k and L_q x n), so both run on the flash
// kernel: two GEMM-like stages on its microkernels, O(L n d) in all. A and V_A are stored
// in the case's dtype (the flash kernel takes one dtype for Q, K, V, O).
// Non-causal only: the paper defines agent attention for vision models; an agent pools
// queries of every position, so a causal form would need per-position agents (refused
// with that reason). The paper's trained extras (agent bias, depthwise convolution on V)
// are omitted. No mask window, softcap or varlen. Options: agents (default 64, >= 1).
// Not a subset of exact query-key pairs, so it counts none.
#pragma once

#include "extra_variants.h"

AB_CPU_NS_BEGIN

/// Capability check of agent: options valid, non-causal, no window/softcap/varlen.
Check agent_supports(const ab_attention_args& a, const VariantOptions& options);

/// Runs agent (options already accepted by agent_supports).
void agent_run(const ab_attention_args& a, const VariantOptions& options);

AB_CPU_NS_END

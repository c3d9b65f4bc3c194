// `mla` on the CPU: DeepSeek-V2 multi-head latent attention, decode. Every token stores one
// latent vector of `latent` dims plus `rope` decoupled rotary dims (one row of K, heads_kv =
// 1, head_dim = latent + rope), shared by all query heads. Queries come already absorbed into
// the latent space (W_UK folded into W_Q), so a score is q . k over all latent + rope dims,
// and the value of a token is the latent part of its row: V = K[..., :latent], head_dim_v =
// latent. The kernel reads K only, never the v buffer: the latent cache is stored once.
// Options: latent (default 512), rope (default 64); head_dim must equal their sum.
// It is decode's kernel (split along keys, log-sum-exp merge, all query heads of the
// group in one register-blocked pass over each key block) with the values read from K:
// each latent row is loaded once and serves every head, twice (scores, then P V), which
// is MLA's high arithmetic intensity (2 * (d + dv) * heads_q FLOP per (d) elements read).
#pragma once

#include "extra_variants.h"

AB_CPU_NS_BEGIN

/// Capability check of mla: options valid, heads_kv == 1, head_dim == latent + rope,
/// head_dim_v == latent, len_q <= 16.
Check mla_supports(const ab_attention_args& a, const VariantOptions& options);

/// Runs mla (options already accepted by mla_supports).
void mla_run(const ab_attention_args& a, const VariantOptions& options);

AB_CPU_NS_END

// Shape and mask limits shared by the Tier-3 approximate variants (agent, sea,
// probsparse, mosa, flowformer): each refuses, with its own name and reason, the mask
// features its definition has no form for, instead of silently ignoring them.
#pragma once

#include <string>

#include "extra_variants.h"

AB_CPU_NS_BEGIN

/// What an approximate variant accepts beyond plain non-causal attention.
struct ApproxLimits {
  bool causal = false;   ///< has a causal form
  bool softcap = false;  ///< its logits take a softcap
  bool varlen = false;   ///< per-sequence lengths (seq_len_q / seq_len_k)
  bool self = false;     ///< requires len_q == len_k (tokens are queries and keys at once)
};

/// AB_UNSUPPORTED naming `variant` and the first feature of `a` outside `lim`; OK otherwise.
/// Mask windows are refused by all of them (none has a windowed form).
inline Check approx_limits(const char* variant, const ab_attention_args& a, const ApproxLimits& lim) {
  const std::string v = variant;
  if (a.causal && !lim.causal) return {AB_UNSUPPORTED, v + ": non-causal only (no causal form is implemented)"};
  if (a.window_left >= 0 || a.window_right >= 0) return {AB_UNSUPPORTED, v + ": no mask window"};
  if (a.softcap > 0 && !lim.softcap) return {AB_UNSUPPORTED, v + ": no softcap"};
  if ((a.seq_len_q || a.seq_len_k) && !lim.varlen)
    return {AB_UNSUPPORTED, v + ": no varlen (per-sequence lengths); pad to one length"};
  if (lim.self && a.len_q != a.len_k)
    return {AB_UNSUPPORTED, v + ": self-attention only (len_q == len_k): each token is selected as query and key"};
  return {};
}

AB_CPU_NS_END

// Host-side inputs of a case, generated deterministically from (seed, shape), plus
// their device copies. Inputs depend only on the shape and the seed, never on the
// variant or backend, so every configuration of one shape sees identical data.
#pragma once

#include <cstdint>
#include <vector>

#include "backend.h"
#include "case_spec.h"

namespace attnbench {

/// Host tensors as fp32 values *after* rounding to the storage dtype (what the oracle sees).
struct HostInputs {
  std::vector<float> q, k, v;              // contiguous [B,H,L,d]; v is [B,Hkv,Lk,dv]
  std::vector<int32_t> seq_len_q, seq_len_k; // empty unless varlen
  std::vector<int32_t> block_table;          // [B, max_pages] when paged
  int max_pages_per_seq = 0;
  int num_pages = 0;
};

/// Sizes `x` to `n` zeros, asking Linux for transparent huge pages first where the
/// machine leaves them to madvise (a 4 KiB page fault per page of a long-context case's
/// K and V cost more than timing the kernel, worse in a VM). Harness memory only.
void resize_with_huge_pages(std::vector<float>& x, size_t n);

/// Generates the inputs of `shape` under `seed`.
HostInputs make_inputs(const Shape& shape, uint64_t seed);

/// Device copies of the inputs plus an output buffer, and the ABI argument block.
struct DeviceInputs {
  DeviceBuffer q, k, v, o, block_table;
  ab_attention_args args{};
  size_t o_bytes = 0;
};

/// Whether configuration `cfg` reads its values from the keys (`mla`: V = K[..., :dv]).
bool values_from_keys(const VariantConfig& cfg);

/// `host` with V replaced by the first dv columns of K. MLA stores one latent row per token
/// and its kernel reads only K; the case's V is made equal to what the kernel uses, so
/// that the oracle (plain attention over Q, K, V) checks it unchanged. The shared inputs
/// stay variant-independent (InputCache); this copy is the mla case's own.
HostInputs with_values_from_keys(const Shape& shape, const HostInputs& host);

/// Whether `cfg` is flash:alibi=1,bias_rank=2, whose bias factors are exact ALiBi.
bool alibi_bias(const VariantConfig& cfg);

/// `host` with exact ALiBi in the last 2 columns of Q and K (FlashBias, rank 2): for head
/// h of H, slope 2^(-8 (h + 1) / H); query row i (position p = i + len_k - len_q) holds
/// U = [-slope p, slope], key j holds W = [1, j], so u.w = slope (j - p). Exact in fp32;
/// 16-bit storage rounds large positions (kernel and oracle see the same rounded values).
HostInputs with_alibi_factors(const Shape& shape, const HostInputs& host);

/// Whether `cfg` needs inputs of its own (mla, ALiBi) instead of the shared ones.
bool needs_own_inputs(const VariantConfig& cfg);

/// The shared inputs adapted to `cfg` (needs_own_inputs).
HostInputs own_inputs(const VariantConfig& cfg, const Shape& shape, const HostInputs& shared);

/// Elements of O: [B, Hq, Lq, dv].
size_t output_elements(const Shape& shape);

/// Fills the ABI arguments for a configuration (pointers into `host` stay borrowed).
ab_attention_args make_args(const VariantConfig& cfg, const Shape& shape, const HostInputs& host);

/// Uploads the inputs (encoded in the storage dtype; K/V scattered into pages when paged).
DeviceInputs upload_inputs(Backend& backend, const VariantConfig& cfg, const Shape& shape, const HostInputs& host);

/// Replaces the device values of `d` by `v` (contiguous [B,Hkv,Lk,d] like HostInputs::v;
/// encoded in the storage dtype and scattered into pages when paged).
void upload_values(Backend& backend, const Shape& shape, const HostInputs& host, const std::vector<float>& v,
                   DeviceInputs& d);

}  // namespace attnbench

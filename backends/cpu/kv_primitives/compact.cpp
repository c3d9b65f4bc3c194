// compact: gathers the kept slots of every KV head into a compact cache
// (ab_kv_compact_args). A slot -1 is RazorAttention's compensation token: the mean K
// and mean V of the tokens the head does not keep, accumulated in fp32 in token order
// as sum of x / count (bit for bit kv_duo.cpp's razor). Masked key channels are 0.
// Rows are contiguous copies; the per-channel loops vectorise; heads run in parallel.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kv_isa.h"

namespace attnbench::cpu::kv {
namespace {

void compact_head(const ab_kv_compact_args& a, int j) {
  const int d = a.head_dim, L = a.len_k, cnt = a.kept_count[j];
  const int32_t* kept = a.kept + static_cast<size_t>(j) * a.kept_stride;
  const float* K = static_cast<const float*>(static_cast<const void*>(a.k)) + static_cast<size_t>(j) * L * d;
  const float* V = static_cast<const float*>(static_cast<const void*>(a.v)) + static_cast<size_t>(j) * L * d;
  float* ko = static_cast<float*>(static_cast<void*>(a.k_out)) + static_cast<size_t>(j) * a.kept_stride * d;
  float* vo = static_cast<float*>(static_cast<void*>(a.v_out)) + static_cast<size_t>(j) * a.kept_stride * d;
  const uint8_t* mask = a.key_channel_mask ? a.key_channel_mask + static_cast<size_t>(j) * d : nullptr;
  auto mask_row = [&](float* r) {
    if (mask)
      for (int c = 0; c < d; ++c) r[c] = mask[c] ? r[c] : 0.0f;
  };
  for (int i = 0; i < cnt; ++i) {
    const int32_t p = kept[i];
    float* kr = ko + static_cast<size_t>(i) * d;
    float* vr = vo + static_cast<size_t>(i) * d;
    if (p >= 0) {
      std::memcpy(kr, K + static_cast<size_t>(p) * d, sizeof(float) * d);
      std::memcpy(vr, V + static_cast<size_t>(p) * d, sizeof(float) * d);
      mask_row(kr);
      continue;
    }
    // Compensation slot (last): mean over the tokens not in kept[0 .. cnt - 1).
    const int dropped = L - (cnt - 1);
    const float nf = static_cast<float>(dropped);
    std::fill(kr, kr + d, 0.0f);
    std::fill(vr, vr + d, 0.0f);
    int next = 0;  // kept[next] is the next kept position
    for (int t = 0; t < L; ++t) {
      if (next < cnt - 1 && kept[next] == t) {
        ++next;
        continue;
      }
      const float* ks = K + static_cast<size_t>(t) * d;
      const float* vs = V + static_cast<size_t>(t) * d;
      for (int c = 0; c < d; ++c) kr[c] += ks[c] / nf;
      for (int c = 0; c < d; ++c) vr[c] += vs[c] / nf;
    }
    mask_row(kr);
  }
}

}  // namespace

void compact_kernel(const ab_kv_compact_args& a) {
  double total = 0;
  for (int j = 0; j < a.heads_kv; ++j) total += a.kept_count[j];
  if (a.heads_kv == 1 || total * a.head_dim < 65536) {
    for (int j = 0; j < a.heads_kv; ++j) compact_head(a, j);
    return;
  }
  tbb::parallel_for(0, a.heads_kv, [&](int j) { compact_head(a, j); });
}

}  // namespace attnbench::cpu::kv

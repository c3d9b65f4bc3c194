// `naive` backward: the unfused baseline of the backward pass. Per (batch, query head) it
// materialises P (from the forward's LSE) and dS = P * (dO V^T - D) as len_q x len_k fp32
// matrices, then dQ = scale dS K row by row and dK += scale dS^T Q, dV += P^T dO key by
// key. O(L^2) memory per head, row-at-a-time dot products and axpys in fp32 on rows
// widened from the storage dtype. Heads of one GQA group run one after another and
// accumulate into the KV head's dK and dV, so nothing is written twice concurrently.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "attnbench/attention_hooks.h"
#include "isa_kernels.h"
#include "tensor_access.h"
#include "topk_common.h"

AB_CPU_NS_BEGIN
namespace {

void axpy(float alpha, const float* x, float* y, int n) {
  const V16 av = v_set1(alpha);
  int i = 0;
  for (; i + 16 <= n; i += 16) v_store(y + i, v_fmadd(av, v_load(x + i), v_load(y + i)));
  for (; i < n; ++i) y[i] += alpha * x[i];
}

/// Rows [0, n) of (b, h) of a [B, heads, len, d] tensor, as fp32.
std::vector<float> head_rows(ab_dtype t, const void* base, int b, int h, int heads, int len, int d) {
  std::vector<float> out(static_cast<size_t>(len) * d);
  load_row_f32(t, base, row_offset(b, h, 0, heads, len, d), out.data(), len * d);
  return out;
}

/// One query head h of KV head (b, hk): its dQ rows, and its share of dK, dV (fp32 sums).
void naive_head_backward(const ab_backward_args& g, int b, int h, const std::vector<float>& k,
                         const std::vector<float>& v, std::vector<float>& dk, std::vector<float>& dv) {
  const ab_attention_args& a = g.fwd;
  const int d = a.head_dim, lq = a.len_q, lk = a.len_k;
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  const std::vector<float> q = head_rows(a.dtype, a.q, b, h, a.heads_q, lq, d);
  const std::vector<float> go = head_rows(a.dtype, g.d_o, b, h, a.heads_q, lq, d);
  const std::vector<float> o = head_rows(a.dtype, a.o, b, h, a.heads_q, lq, d);
  const float* lse = host_ptr<const float>(a.lse) + (static_cast<size_t>(b) * a.heads_q + h) * lq;
  std::vector<float> p(static_cast<size_t>(lq) * lk), ds(static_cast<size_t>(lq) * lk);  // materialised

  tbb::parallel_for(0, lq, [&](int i) {
    const float* qi = q.data() + static_cast<size_t>(i) * d;
    const float* gi = go.data() + static_cast<size_t>(i) * d;
    float* prow = p.data() + static_cast<size_t>(i) * lk;
    float* dsrow = ds.data() + static_cast<size_t>(i) * lk;
    const KeyRange r = mask.keys_for(i, lq, lk);
    const float delta = topk::dot(gi, o.data() + static_cast<size_t>(i) * d, d);
    std::vector<float> dqi(d, 0.0f);
    for (int j = 0; j < lk; ++j) {
      if (j < r.lo || j >= r.hi) {
        prow[j] = dsrow[j] = 0.0f;
        continue;
      }
      const float* kj = k.data() + static_cast<size_t>(j) * d;
      prow[j] = std::exp(topk::dot(qi, kj, d) * a.scale - lse[i]);
      dsrow[j] = prow[j] * (topk::dot(gi, v.data() + static_cast<size_t>(j) * d, d) - delta);
      axpy(dsrow[j] * a.scale, kj, dqi.data(), d);
    }
    store_row(a.dtype, g.d_q, row_offset(b, h, i, a.heads_q, lq, d), dqi.data(), d);
  });
  tbb::parallel_for(0, lk, [&](int j) {
    float* dkj = dk.data() + static_cast<size_t>(j) * d;
    float* dvj = dv.data() + static_cast<size_t>(j) * d;
    for (int i = 0; i < lq; ++i) {
      const size_t ij = static_cast<size_t>(i) * lk + j;
      if (p[ij] == 0.0f && ds[ij] == 0.0f) continue;
      axpy(ds[ij] * a.scale, q.data() + static_cast<size_t>(i) * d, dkj, d);
      axpy(p[ij], go.data() + static_cast<size_t>(i) * d, dvj, d);
    }
  });
}

}  // namespace

void naive_backward(const ab_backward_args& g) {
  const ab_attention_args& a = g.fwd;
  const int d = a.head_dim, group = a.heads_q / a.heads_kv;
  // KV heads one at a time: each materialises 2 x len_q x len_k floats per query head.
  for (int b = 0; b < a.batch; ++b)
    for (int hk = 0; hk < a.heads_kv; ++hk) {
      const std::vector<float> k = head_rows(a.dtype, a.k, b, hk, a.heads_kv, a.len_k, d);
      const std::vector<float> v = head_rows(a.dtype, a.v, b, hk, a.heads_kv, a.len_k, d);
      std::vector<float> dk(k.size(), 0.0f), dv(v.size(), 0.0f);
      for (int h = hk * group; h < (hk + 1) * group; ++h) naive_head_backward(g, b, h, k, v, dk, dv);
      const size_t off = row_offset(b, hk, 0, a.heads_kv, a.len_k, d);
      store_row(a.dtype, g.d_k, off, dk.data(), a.len_k * d);
      store_row(a.dtype, g.d_v, off, dv.data(), a.len_k * d);
    }
}

AB_CPU_NS_END

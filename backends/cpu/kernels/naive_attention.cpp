// `naive`: the unfused baseline. Per (batch, head) it materialises the whole score
// matrix S = Q K^T in fp32 (len_q x len_k floats), applies mask and softcap, takes a
// row softmax and multiplies by V. O(L^2) memory, row-at-a-time dot products.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "attnbench/attention_hooks.h"
#include "isa_kernels.h"
#include "tensor_access.h"

AB_CPU_NS_BEGIN
namespace {

float dot(const float* x, const float* y, int n) {
  V16 acc = v_zero();
  int i = 0;
  for (; i + 16 <= n; i += 16) acc = v_fmadd(v_load(x + i), v_load(y + i), acc);
  float s = v_reduce_add(acc);
  for (; i < n; ++i) s += x[i] * y[i];
  return s;
}

void axpy(float alpha, const float* x, float* y, int n) {
  const V16 av = v_set1(alpha);
  int i = 0;
  for (; i + 16 <= n; i += 16) v_store(y + i, v_fmadd(av, v_load(x + i), v_load(y + i)));
  for (; i < n; ++i) y[i] += alpha * x[i];
}

/// One (batch, query head): S, softmax, S V.
void naive_head(const ab_attention_args& a, int b, int h) {
  const int d = a.head_dim, dv = dv_of(a), lq = len_q_of(a, b), lk = len_k_of(a, b);
  const int hk = kv_head_of(h, a.heads_q, a.heads_kv);
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  std::vector<float> k(static_cast<size_t>(lk) * d), v(static_cast<size_t>(lk) * dv);
  load_row_f32(a.dtype, a.k, row_offset(b, hk, 0, a.heads_kv, a.len_k, d), k.data(), lk * d);
  load_row_f32(a.dtype, a.v, row_offset(b, hk, 0, a.heads_kv, a.len_k, dv), v.data(), lk * dv);
  std::vector<float> s(static_cast<size_t>(lq) * lk);  // the materialised scores

  tbb::parallel_for(0, lq, [&](int i) {
    std::vector<float> q(d), o(dv, 0.0f);
    const size_t o_off = row_offset(b, h, i, a.heads_q, a.len_q, dv);
    load_row_f32(a.dtype, a.q, row_offset(b, h, i, a.heads_q, a.len_q, d), q.data(), d);
    float* srow = s.data() + static_cast<size_t>(i) * lk;
    const KeyRange r = mask.keys_for(i, lq, lk);
    float mx = -INFINITY;
    for (int j = 0; j < lk; ++j) {
      float x = -INFINITY;
      if (j >= r.lo && j < r.hi) {
        x = dot(q.data(), k.data() + static_cast<size_t>(j) * d, d) * a.scale;
        if (a.softcap > 0.0f) x = a.softcap * std::tanh(x / a.softcap);
      }
      srow[j] = x;
      mx = std::max(mx, x);
    }
    if (r.empty()) {
      store_zero_row(a.dtype, a.o, o_off, dv);
      return;
    }
    float sum = 0.0f;
    for (int j = 0; j < lk; ++j) {
      srow[j] = srow[j] == -INFINITY ? 0.0f : std::exp(srow[j] - mx);
      sum += srow[j];
    }
    for (int j = 0; j < lk; ++j)
      if (srow[j] != 0.0f) axpy(srow[j] / sum, v.data() + static_cast<size_t>(j) * dv, o.data(), dv);
    store_row(a.dtype, a.o, o_off, o.data(), dv);
  });
}

}  // namespace

void naive_attention(const ab_attention_args& a) {
  if (a.batch <= 0 || a.len_q <= 0) return;
  tbb::parallel_for(0, a.batch * a.heads_q, [&](int bh) { naive_head(a, bh / a.heads_q, bh % a.heads_q); });
}

AB_CPU_NS_END

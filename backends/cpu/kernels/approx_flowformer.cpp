#include "approx_flowformer.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "approx_limits.h"
#include "topk_common.h"

AB_CPU_NS_BEGIN
namespace {

/// phi = sigmoid of n rows of `heads` x len x d tensor `src` at (b, h), into dst (n x d).
void sigmoid_rows(const ab_attention_args& a, ab_buffer src, int b, int h, int heads, int len, int n, float* dst) {
  const int d = a.head_dim;
  for (int i = 0; i < n; ++i) {
    float* row = dst + static_cast<size_t>(i) * d;
    load_row_f32(a.dtype, src, row_offset(b, h, i, heads, len, d), row, d);
    for (int t = 0; t < d; ++t) row[t] = 1.0f / (1.0f + std::exp(-row[t]));
  }
}

/// out[0..d) = sum over n rows of x (n x d) weighted by w (w == nullptr: weight 1).
void weighted_row_sum(const float* x, const float* w, int n, int d, float* out) {
  std::fill(out, out + d, 0.0f);
  for (int i = 0; i < n; ++i) {
    const float wi = w ? w[i] : 1.0f;
    const float* row = x + static_cast<size_t>(i) * d;
    for (int t = 0; t < d; ++t) out[t] += wi * row[t];
  }
}

/// One (batch, query head).
void flow_head(const ab_attention_args& a, int b, int h) {
  const int d = a.head_dim, hk = kv_head_of(h, a.heads_q, a.heads_kv);
  const int n = len_q_of(a, b), m = len_k_of(a, b);
  if (n <= 0) return;
  if (m <= 0) {
    for (int i = 0; i < n; ++i) store_zero_row(a.dtype, a.o, row_offset(b, h, i, a.heads_q, a.len_q, d), d);
    return;
  }
  // phi(Q) and phi(K) in this thread's reusable scratch (fresh pages cost a fault per 4 KiB).
  thread_local ScratchF32 q_buf, k_buf;
  float* const pq_data = q_buf.get(static_cast<size_t>(n) * d);
  float* const pk_data = k_buf.get(static_cast<size_t>(m) * d);
  std::vector<float> v(d);
  sigmoid_rows(a, a.q, b, h, a.heads_q, a.len_q, n, pq_data);
  sigmoid_rows(a, a.k, b, hk, a.heads_kv, a.len_k, m, pk_data);
  std::vector<float> sum_q(d), sum_k(d), inv_in(n), inv_out(m), cons_out(m);
  weighted_row_sum(pq_data, nullptr, n, d, sum_q.data());
  weighted_row_sum(pk_data, nullptr, m, d, sum_k.data());
  for (int i = 0; i < n; ++i) inv_in[i] = 1.0f / topk::dot(pq_data + static_cast<size_t>(i) * d, sum_k.data(), d);
  for (int j = 0; j < m; ++j) inv_out[j] = 1.0f / topk::dot(pk_data + static_cast<size_t>(j) * d, sum_q.data(), d);
  // Conservation: sums of phi weighted by the reciprocal flows.
  std::vector<float> q_over_in(d), k_over_out(d);
  weighted_row_sum(pq_data, inv_in.data(), n, d, q_over_in.data());
  weighted_row_sum(pk_data, inv_out.data(), m, d, k_over_out.data());
  // Competition: m softmax(O^) over the sources.
  float mx = -INFINITY;
  for (int j = 0; j < m; ++j) {
    cons_out[j] = topk::dot(pk_data + static_cast<size_t>(j) * d, q_over_in.data(), d);
    mx = std::max(mx, cons_out[j]);
  }
  double z = 0;
  for (int j = 0; j < m; ++j) z += std::exp(static_cast<double>(cons_out[j] - mx));
  const double comp_scale = static_cast<double>(m) / z;
  // State: sum_j phi(k_j)^T (c_j v_j), d x d.
  std::vector<float> state(static_cast<size_t>(d) * d, 0.0f);
  for (int j = 0; j < m; ++j) {
    load_row_f32(a.dtype, a.v, row_offset(b, hk, j, a.heads_kv, a.len_k, d), v.data(), d);
    const float c = static_cast<float>(comp_scale * std::exp(static_cast<double>(cons_out[j] - mx)));
    for (int t = 0; t < d; ++t) v[t] *= c;
    const float* p = pk_data + static_cast<size_t>(j) * d;
    for (int f = 0; f < d; ++f) {
      float* s = state.data() + static_cast<size_t>(f) * d;
      const float w = p[f];
      for (int t = 0; t < d; ++t) s[t] += w * v[t];
    }
  }
  // Aggregation and allocation.
  const float ratio = static_cast<float>(n) / static_cast<float>(m);
  std::vector<float> row(d);
  for (int i = 0; i < n; ++i) {
    const float* p = pq_data + static_cast<size_t>(i) * d;
    const float cons_in = topk::dot(p, k_over_out.data(), d);
    const float gate = inv_in[i] / (1.0f + std::exp(-cons_in * ratio));
    std::fill(row.begin(), row.end(), 0.0f);
    for (int f = 0; f < d; ++f) {
      const float* s = state.data() + static_cast<size_t>(f) * d;
      const float w = p[f];
      for (int t = 0; t < d; ++t) row[t] += w * s[t];
    }
    for (float& x : row) x *= gate;
    store_row(a.dtype, a.o, row_offset(b, h, i, a.heads_q, a.len_q, d), row.data(), d);
  }
}

}  // namespace

Check flowformer_supports(const ab_attention_args& a, const VariantOptions& options) {
  if (!options.empty()) return {AB_UNSUPPORTED, "flowformer: takes no options (got '" + options.begin()->first + "')"};
  if (a.causal)
    return {AB_UNSUPPORTED, "flowformer: non-causal only (the paper's causal form, with prefix-sum flows, is not "
                            "implemented)"};
  return approx_limits("flowformer", a, {.varlen = true});
}

void flowformer_run(const ab_attention_args& a, const VariantOptions& /*options*/) {
  if (a.batch <= 0 || a.len_q <= 0) return;
  tbb::parallel_for(0, a.batch * a.heads_q, [&](int bh) { flow_head(a, bh / a.heads_q, bh % a.heads_q); });
}

AB_CPU_NS_END

#include "reference_attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "attnbench/attention_hooks.h"

namespace attnbench {

int effective_len_q(const ab_attention_args& a, int b) {
  return a.seq_len_q ? a.seq_len_q[b] : a.len_q;
}
int effective_len_k(const ab_attention_args& a, int b) {
  return a.seq_len_k ? a.seq_len_k[b] : a.len_k;
}
int value_dim(const ab_attention_args& a) { return a.head_dim_v > 0 ? a.head_dim_v : a.head_dim; }

namespace {
double tanh_d(double x) { return std::tanh(x); }
}  // namespace

bool reference_probabilities(const ab_attention_args& a, const KeyMask& mask, const float* q, const float* k,
                             RowId row, std::vector<double>& p) {
  const int d = a.head_dim;
  const int lq = effective_len_q(a, row.b), lk = effective_len_k(a, row.b);
  const LogitsHook logits{a.scale, a.softcap};
  p.assign(lk, 0.0);
  const KeyRange range = mask.bounds(row.i, lq, lk);
  if (range.empty()) return false;
  const int hk = kv_head_of(row.h, a.heads_q, a.heads_kv);
  const float* qrow = q + ((static_cast<size_t>(row.b) * a.heads_q + row.h) * a.len_q + row.i) * d;
  const size_t kv_base = (static_cast<size_t>(row.b) * a.heads_kv + hk) * a.len_k;
  double mx = -INFINITY;
  for (int j = range.lo; j < range.hi; ++j) {
    if (!mask.visible(row.i, j, lq, lk)) continue;
    const float* krow = k + (kv_base + j) * d;
    double s = 0;
    for (int c = 0; c < d; ++c) s += static_cast<double>(qrow[c]) * krow[c];
    p[j] = logits.apply<double>(s, tanh_d);
    mx = std::max(mx, p[j]);
  }
  double sum = 0;
  for (int j = range.lo; j < range.hi; ++j)
    if (mask.visible(row.i, j, lq, lk)) sum += (p[j] = std::exp(p[j] - mx));
  for (int j = range.lo; j < range.hi; ++j) p[j] /= sum;
  return true;
}

void reference_attention_rows(const ab_attention_args& a, const KeyMask& mask, const float* q, const float* k,
                              const float* v, std::span<const RowId> rows, double* out) {
  const int d = value_dim(a);
  std::vector<double> p;
  for (size_t r = 0; r < rows.size(); ++r) {
    const RowId row = rows[r];
    double* o = out + r * d;
    std::fill(o, o + d, 0.0);
    if (!reference_probabilities(a, mask, q, k, row, p)) continue;
    const int hk = kv_head_of(row.h, a.heads_q, a.heads_kv);
    const size_t kv_base = (static_cast<size_t>(row.b) * a.heads_kv + hk) * a.len_k;
    for (size_t j = 0; j < p.size(); ++j) {
      if (p[j] == 0.0) continue;
      const float* vrow = v + (kv_base + j) * d;
      for (int c = 0; c < d; ++c) o[c] += p[j] * vrow[c];
    }
  }
}

void reference_attention_rows(const ab_attention_args& a, const float* q, const float* k,
                              const float* v, std::span<const RowId> rows, double* out) {
  reference_attention_rows(a, KeyMask::of(a), q, k, v, rows, out);
}

void reference_attention(const ab_attention_args& a, const float* q, const float* k,
                         const float* v, double* o) {
  std::vector<RowId> rows;
  for (int b = 0; b < a.batch; ++b) {
    const int lq = effective_len_q(a, b);
    for (int h = 0; h < a.heads_q; ++h) {
      rows.clear();
      for (int i = 0; i < lq; ++i) rows.push_back({b, h, i});
      const size_t off = (static_cast<size_t>(b) * a.heads_q + h) * a.len_q * value_dim(a);
      reference_attention_rows(a, q, k, v, rows, o + off);
    }
  }
}

}  // namespace attnbench

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

namespace {
double tanh_d(double x) { return std::tanh(x); }
}  // namespace

void reference_attention_rows(const ab_attention_args& a, const float* q, const float* k,
                              const float* v, std::span<const RowId> rows, double* out) {
  const int d = a.head_dim;
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  const LogitsHook logits{a.scale, a.softcap};
  std::vector<double> scores;
  for (size_t r = 0; r < rows.size(); ++r) {
    const RowId row = rows[r];
    double* o = out + r * d;
    std::fill(o, o + d, 0.0);
    const int lq = effective_len_q(a, row.b), lk = effective_len_k(a, row.b);
    const KeyRange range = mask.keys_for(row.i, lq, lk);
    if (range.empty()) continue;
    const int hk = kv_head_of(row.h, a.heads_q, a.heads_kv);
    const float* qrow = q + ((static_cast<size_t>(row.b) * a.heads_q + row.h) * a.len_q + row.i) * d;
    const size_t kv_base = (static_cast<size_t>(row.b) * a.heads_kv + hk) * a.len_k;
    scores.assign(range.hi - range.lo, 0.0);
    double mx = -INFINITY;
    for (int j = range.lo; j < range.hi; ++j) {
      const float* krow = k + (kv_base + j) * d;
      double s = 0;
      for (int c = 0; c < d; ++c) s += static_cast<double>(qrow[c]) * krow[c];
      s = logits.apply<double>(s, tanh_d);
      scores[j - range.lo] = s;
      mx = std::max(mx, s);
    }
    double sum = 0;
    for (double& s : scores) { s = std::exp(s - mx); sum += s; }
    for (int j = range.lo; j < range.hi; ++j) {
      const double p = scores[j - range.lo] / sum;
      const float* vrow = v + (kv_base + j) * d;
      for (int c = 0; c < d; ++c) o[c] += p * vrow[c];
    }
  }
}

void reference_attention(const ab_attention_args& a, const float* q, const float* k,
                         const float* v, double* o) {
  std::vector<RowId> rows;
  for (int b = 0; b < a.batch; ++b) {
    const int lq = effective_len_q(a, b);
    for (int h = 0; h < a.heads_q; ++h) {
      rows.clear();
      for (int i = 0; i < lq; ++i) rows.push_back({b, h, i});
      const size_t off = (static_cast<size_t>(b) * a.heads_q + h) * a.len_q * a.head_dim;
      reference_attention_rows(a, q, k, v, rows, o + off);
    }
  }
}

}  // namespace attnbench

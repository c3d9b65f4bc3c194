#include "reference_backward.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "attnbench/attention_hooks.h"

namespace attnbench {
namespace {

size_t q_row_offset(const ab_attention_args& a, RowId r) {
  return ((static_cast<size_t>(r.b) * a.heads_q + r.h) * a.len_q + r.i) * a.head_dim;
}
size_t kv_row_offset(const ab_attention_args& a, int b, int hk, int j) {
  return ((static_cast<size_t>(b) * a.heads_kv + hk) * a.len_k + j) * a.head_dim;
}

/// Calls f(row) for every valid query row.
template <class F>
void for_each_row(const ab_attention_args& a, F&& f) {
  for (int b = 0; b < a.batch; ++b)
    for (int h = 0; h < a.heads_q; ++h)
      for (int i = 0; i < effective_len_q(a, b); ++i) f(RowId{b, h, i});
}

/// O of one row from its probabilities.
void row_output(const ab_attention_args& a, RowId r, const std::vector<double>& p, const float* v, double* o) {
  const int d = a.head_dim, hk = kv_head_of(r.h, a.heads_q, a.heads_kv);
  std::fill(o, o + d, 0.0);
  for (size_t j = 0; j < p.size(); ++j) {
    if (p[j] == 0.0) continue;
    const float* vr = v + kv_row_offset(a, r.b, hk, static_cast<int>(j));
    for (int c = 0; c < d; ++c) o[c] += p[j] * vr[c];
  }
}

double dot_f(const float* x, const float* y, int d) {
  double s = 0;
  for (int c = 0; c < d; ++c) s += static_cast<double>(x[c]) * y[c];
  return s;
}

/// The same with four independent partial sums: the oracle's forward for backward cases
/// runs O(len^2 d) of these, and one dependent chain of adds is latency-bound.
double dot_f4(const float* x, const float* y, int d) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int c = 0;
  for (; c + 4 <= d; c += 4) {
    s0 += static_cast<double>(x[c]) * y[c];
    s1 += static_cast<double>(x[c + 1]) * y[c + 1];
    s2 += static_cast<double>(x[c + 2]) * y[c + 2];
    s3 += static_cast<double>(x[c + 3]) * y[c + 3];
  }
  for (; c < d; ++c) s0 += static_cast<double>(x[c]) * y[c];
  return (s0 + s1) + (s2 + s3);
}

double dot_d(const float* x, const double* y, int d) {
  double s = 0;
  for (int c = 0; c < d; ++c) s += x[c] * y[c];
  return s;
}

}  // namespace

void reference_forward_lse_rows(const ab_attention_args& a, const float* q, const float* k, const float* v,
                                std::span<const RowId> rows, double* o, double* lse) {
  const int d = a.head_dim;
  const KeyMask mask = KeyMask::of(a);
  const LogitsHook logits{a.scale, a.softcap};
  std::vector<double> s;
  for (const RowId r : rows) {
    const size_t row = q_row_offset(a, r) / d;
    double* orow = o + row * d;
    std::fill(orow, orow + d, 0.0);
    lse[row] = -INFINITY;
    const int lq = effective_len_q(a, r.b), lk = effective_len_k(a, r.b);
    const KeyRange range = mask.bounds(r.i, lq, lk);
    if (range.empty()) continue;
    const int hk = kv_head_of(r.h, a.heads_q, a.heads_kv);
    const float* qr = q + row * d;
    s.assign(lk, -INFINITY);
    double mx = -INFINITY;
    for (int j = range.lo; j < range.hi; ++j) {
      if (!mask.visible(r.i, j, lq, lk)) continue;
      s[j] = logits.apply<double>(dot_f4(qr, k + kv_row_offset(a, r.b, hk, j), d),
                                  [](double x) { return std::tanh(x); });
      mx = std::max(mx, s[j]);
    }
    if (mx == -INFINITY) continue;
    double sum = 0;
    for (int j = range.lo; j < range.hi; ++j) {
      if (s[j] == -INFINITY) continue;
      const double p = std::exp(s[j] - mx);
      sum += p;
      const float* vr = v + kv_row_offset(a, r.b, hk, j);
      for (int c = 0; c < d; ++c) orow[c] += p * vr[c];
    }
    for (int c = 0; c < d; ++c) orow[c] /= sum;
    lse[row] = mx + std::log(sum);
  }
}

void reference_forward_lse(const ab_attention_args& a, const float* q, const float* k, const float* v, double* o,
                           double* lse) {
  std::vector<RowId> rows;
  for_each_row(a, [&](RowId r) { rows.push_back(r); });
  reference_forward_lse_rows(a, q, k, v, rows, o, lse);
}

void reference_backward_dq_rows(const ab_attention_args& a, const float* q, const float* k, const float* v,
                                const float* d_o, std::span<const RowId> rows, double* out) {
  if (a.softcap > 0.0f) throw std::invalid_argument("reference_backward: softcap is not modelled");
  const int d = a.head_dim;
  const KeyMask mask = KeyMask::of(a);
  std::vector<double> p, o(d);
  for (size_t n = 0; n < rows.size(); ++n) {
    const RowId r = rows[n];
    double* dq = out + n * d;
    std::fill(dq, dq + d, 0.0);
    if (!reference_probabilities(a, mask, q, k, r, p)) continue;
    row_output(a, r, p, v, o.data());
    const float* gr = d_o + q_row_offset(a, r);
    const double D = dot_d(gr, o.data(), d);
    const int hk = kv_head_of(r.h, a.heads_q, a.heads_kv);
    for (size_t j = 0; j < p.size(); ++j) {
      if (p[j] == 0.0) continue;
      const size_t koff = kv_row_offset(a, r.b, hk, static_cast<int>(j));
      const double ds = p[j] * (dot_f(gr, v + koff, d) - D) * a.scale;
      for (int c = 0; c < d; ++c) dq[c] += ds * k[koff + c];
    }
  }
}

void reference_backward_kv_rows(const ab_attention_args& a, const float* q, const float* k, const float* v,
                                const float* d_o, const double* o, const double* lse, std::span<const KeyId> keys,
                                double* dk, double* dv) {
  if (a.softcap > 0.0f) throw std::invalid_argument("reference_backward: softcap is not modelled");
  const int d = a.head_dim, group = a.heads_q / a.heads_kv;
  const KeyMask mask = KeyMask::of(a);
  for (size_t n = 0; n < keys.size(); ++n) {
    const KeyId key = keys[n];
    double* gk = dk + n * d;
    double* gv = dv + n * d;
    std::fill(gk, gk + d, 0.0);
    std::fill(gv, gv + d, 0.0);
    const int lq = effective_len_q(a, key.b), lk = effective_len_k(a, key.b);
    if (key.j >= lk) continue;
    const size_t koff = kv_row_offset(a, key.b, key.hk, key.j);
    for (int h = key.hk * group; h < (key.hk + 1) * group; ++h)
      for (int i = 0; i < lq; ++i) {
        if (!mask.visible(i, key.j, lq, lk)) continue;
        const size_t qoff = q_row_offset(a, RowId{key.b, h, i});
        const float* qr = q + qoff;
        const float* gr = d_o + qoff;
        const double p = std::exp(dot_f(qr, k + koff, d) * a.scale - lse[qoff / d]);
        const double ds = p * (dot_f(gr, v + koff, d) - dot_d(gr, o + qoff, d)) * a.scale;
        for (int c = 0; c < d; ++c) {
          gk[c] += ds * qr[c];
          gv[c] += p * gr[c];
        }
      }
  }
}

void reference_backward(const ab_attention_args& a, const float* q, const float* k, const float* v,
                        const float* d_o, double* dq, double* dk, double* dv) {
  if (a.softcap > 0.0f) throw std::invalid_argument("reference_backward: softcap is not modelled");
  const int d = a.head_dim;
  const size_t nq = static_cast<size_t>(a.batch) * a.heads_q * a.len_q * d;
  const size_t nk = static_cast<size_t>(a.batch) * a.heads_kv * a.len_k * d;
  std::fill(dq, dq + nq, 0.0);
  std::fill(dk, dk + nk, 0.0);
  std::fill(dv, dv + nk, 0.0);
  const KeyMask mask = KeyMask::of(a);
  std::vector<double> p, o(d);
  for_each_row(a, [&](RowId r) {
    if (!reference_probabilities(a, mask, q, k, r, p)) return;
    const int hk = kv_head_of(r.h, a.heads_q, a.heads_kv);
    const size_t qoff = q_row_offset(a, r);
    const float* qr = q + qoff;
    const float* gr = d_o + qoff;
    row_output(a, r, p, v, o.data());
    const double D = dot_d(gr, o.data(), d);  // rowsum(dO * O): the softmax Jacobian's shared term
    for (size_t j = 0; j < p.size(); ++j) {
      if (p[j] == 0.0) continue;
      const size_t koff = kv_row_offset(a, r.b, hk, static_cast<int>(j));
      const float* kr = k + koff;
      const float* vr = v + koff;
      const double ds = p[j] * (dot_f(gr, vr, d) - D) * a.scale;
      for (int c = 0; c < d; ++c) {
        dq[qoff + c] += ds * kr[c];
        dk[koff + c] += ds * qr[c];
        dv[koff + c] += p[j] * gr[c];
      }
    }
  });
}

}  // namespace attnbench

// statistics: key and query statistics that methods score from (ab_kv_stat_args):
// key L2 norms, per-channel mean |k|, the query mean and covariance of an observation
// window, and the expected logit of a Gaussian query (expected attention). All sums are
// fp64, vectorised over channels (sequential over tokens, as the host methods sum);
// outputs are rounded to f32 last.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kv_isa.h"
#include "kv_vec.h"

namespace attnbench::cpu::kv::AB_KV_ISA {
namespace {

constexpr int kTokenBlock = 256;  // tokens per task
#if defined(__AVX512F__)
constexpr int kQuadKeys = 6, kQuadVecs = 2;  // expected-logit register block: keys x 8-channel vectors
#elif defined(__AVX2__)
constexpr int kQuadKeys = 4, kQuadVecs = 1;
#else
constexpr int kQuadKeys = 2, kQuadVecs = 1;
#endif
constexpr int kQuadChannels = 8 * kQuadVecs;

thread_local std::vector<double> tl_sigma, tl_kd, tl_mu;

const float* fptr(ab_buffer b) { return static_cast<const float*>(static_cast<const void*>(b)); }
float* fout(ab_buffer b) { return static_cast<float*>(static_cast<void*>(b)); }

/// Partial 8-lane load of n < 8 floats as doubles (other lanes 0).
f64x8 load8_f32_partial(const float* p, int n) {
  float t[8] = {};
  std::memcpy(t, p, sizeof(float) * n);
  return load8_f32(t);
}

void key_l2norm(const ab_kv_stat_args& a) {
  const int d = a.head_dim, L = a.len_k, blocks = (L + kTokenBlock - 1) / kTokenBlock;
  const float* K = fptr(a.k);
  float* out = fout(a.out);
  tbb::parallel_for(0, a.heads_kv * blocks, [&](int task) {
    const int j = task / blocks, t0 = task % blocks * kTokenBlock, t1 = std::min(L, t0 + kTokenBlock);
    for (int t = t0; t < t1; ++t) {
      const float* kr = K + (static_cast<size_t>(j) * L + t) * d;
      f64x8 s = {};
      int c = 0;
      for (; c + 8 <= d; c += 8) {
        const f64x8 x = load8_f32(kr + c);
        s = x * x + s;
      }
      if (c < d) {
        const f64x8 x = load8_f32_partial(kr + c, d - c);
        s = x * x + s;
      }
      out[static_cast<size_t>(j) * L + t] = static_cast<float>(std::sqrt(hsum(s)));
    }
  });
}

void key_channel_absmean(const ab_kv_stat_args& a) {
  const int d = a.head_dim, L = a.len_k;
  const float* K = fptr(a.k);
  float* out = fout(a.out);
  tbb::parallel_for(0, a.heads_kv, [&](int j) {
    std::vector<double> sum(static_cast<size_t>((d + 7) / 8) * 8, 0.0);
    for (int t = 0; t < L; ++t) {
      const float* kr = K + (static_cast<size_t>(j) * L + t) * d;
      int c = 0;
      for (; c + 8 <= d; c += 8) {
        const f64x8 x = load8_f32(kr + c);
        store8(sum.data() + c, (x < 0 ? -x : x) + load8(sum.data() + c));
      }
      if (c < d) {
        const f64x8 x = load8_f32_partial(kr + c, d - c);
        store8(sum.data() + c, (x < 0 ? -x : x) + load8(sum.data() + c));
      }
    }
    for (int c = 0; c < d; ++c) out[static_cast<size_t>(j) * d + c] = static_cast<float>(sum[c] / L);
  });
}

void query_mean_cov(const ab_kv_stat_args& a) {
  const int d = a.head_dim, n = a.n_obs, d8 = (d + 7) / 8 * 8;
  const float* Q = fptr(a.q);
  float* out = fout(a.out);
  tbb::parallel_for(0, a.heads_q, [&](int h) {
    std::vector<double> mu(d8, 0.0), cq(static_cast<size_t>(n) * d8, 0.0), cov(static_cast<size_t>(d) * d8, 0.0);
    const float* qh = Q + (static_cast<size_t>(h) * a.q_rows + a.row0) * d;
    for (int t = 0; t < n; ++t)
      for (int c = 0; c < d; ++c) mu[c] += static_cast<double>(qh[static_cast<size_t>(t) * d + c]) / n;
    for (int t = 0; t < n; ++t)
      for (int c = 0; c < d; ++c) cq[static_cast<size_t>(t) * d8 + c] = qh[static_cast<size_t>(t) * d + c] - mu[c];
    for (int t = 0; t < n; ++t) {
      const double* x = cq.data() + static_cast<size_t>(t) * d8;
      for (int c = 0; c < d; ++c) {
        const f64x8 xc = splat(x[c]);
        double* row = cov.data() + static_cast<size_t>(c) * d8;
        for (int u = 0; u < d8; u += 8) store8(row + u, xc * load8(x + u) + load8(row + u));
      }
    }
    float* o = out + static_cast<size_t>(h) * (d + static_cast<size_t>(d) * d);
    for (int c = 0; c < d; ++c) o[c] = static_cast<float>(mu[c]);
    for (int c = 0; c < d; ++c)
      for (int u = 0; u < d; ++u) o[d + static_cast<size_t>(c) * d + u] = static_cast<float>(cov[static_cast<size_t>(c) * d8 + u] / n);
  });
}

/// quad[b] = k_b^T Sigma k_b for nb <= kQuadKeys keys kd (rows of dq doubles, zero
/// padded), Sigma [d][dq] doubles (zero padded columns).
template <int NB>
void quad_forms(const double* sigma, const double* kd, int d, int dq, double* quad) {
  f64x8 q[NB];
  for (int b = 0; b < NB; ++b) q[b] = f64x8{};
  for (int c0 = 0; c0 < dq; c0 += kQuadChannels) {
    f64x8 acc[NB][kQuadVecs];
    for (int b = 0; b < NB; ++b)
      for (int v = 0; v < kQuadVecs; ++v) acc[b][v] = f64x8{};
    for (int c = 0; c < d; ++c) {
      f64x8 s[kQuadVecs];
      for (int v = 0; v < kQuadVecs; ++v) s[v] = load8(sigma + static_cast<size_t>(c) * dq + c0 + 8 * v);
      for (int b = 0; b < NB; ++b) {
        const f64x8 kb = splat(kd[static_cast<size_t>(b) * dq + c]);
        for (int v = 0; v < kQuadVecs; ++v) acc[b][v] = s[v] * kb + acc[b][v];
      }
    }
    for (int b = 0; b < NB; ++b)
      for (int v = 0; v < kQuadVecs; ++v) q[b] = acc[b][v] * load8(kd + static_cast<size_t>(b) * dq + c0 + 8 * v) + q[b];
  }
  for (int b = 0; b < NB; ++b) quad[b] = hsum(q[b]);
}

void expected_logit(const ab_kv_stat_args& a) {
  const int d = a.head_dim, L = a.len_k, g = a.heads_q / a.heads_kv;
  const int dq = (d + kQuadChannels - 1) / kQuadChannels * kQuadChannels;
  const int blocks = (L + kTokenBlock - 1) / kTokenBlock;
  const float* K = fptr(a.k);
  const float* aux = fptr(a.aux);
  float* out = fout(a.out);
  const double sc = a.scale, sc2 = static_cast<double>(a.scale) * a.scale / 2.0;
  tbb::parallel_for(0, a.heads_kv * blocks, [&](int task) {
    const int j = task / blocks, t0 = task % blocks * kTokenBlock, t1 = std::min(L, t0 + kTokenBlock), nt = t1 - t0;
    if (tl_sigma.size() < static_cast<size_t>(d) * dq) tl_sigma.resize(static_cast<size_t>(d) * dq);
    if (tl_kd.size() < static_cast<size_t>(kTokenBlock) * dq) tl_kd.resize(static_cast<size_t>(kTokenBlock) * dq);
    if (tl_mu.size() < static_cast<size_t>(dq)) tl_mu.resize(dq);
    double *sigma = tl_sigma.data(), *kd = tl_kd.data(), *mu = tl_mu.data();
    for (int t = 0; t < nt; ++t) {
      const float* kr = K + (static_cast<size_t>(j) * L + t0 + t) * d;
      for (int c = 0; c < dq; ++c) kd[static_cast<size_t>(t) * dq + c] = c < d ? kr[c] : 0.0;
    }
    std::vector<double> logscore(nt, -INFINITY), quad(nt);
    for (int h = j * g; h < (j + 1) * g; ++h) {
      const float* st = aux + static_cast<size_t>(h) * (d + static_cast<size_t>(d) * d);
      for (int c = 0; c < dq; ++c) mu[c] = c < d ? st[c] : 0.0;
      for (int c = 0; c < d; ++c)
        for (int u = 0; u < dq; ++u) sigma[static_cast<size_t>(c) * dq + u] = u < d ? st[d + static_cast<size_t>(c) * d + u] : 0.0;
      for (int b = 0; b < nt; b += kQuadKeys) {
        const int nb = std::min(kQuadKeys, nt - b);
        const double* kb = kd + static_cast<size_t>(b) * dq;
        if (nb == kQuadKeys) quad_forms<kQuadKeys>(sigma, kb, d, dq, quad.data() + b);
        else
          for (int i = 0; i < nb; ++i) quad_forms<1>(sigma, kb + static_cast<size_t>(i) * dq, d, dq, quad.data() + b + i);
      }
      for (int t = 0; t < nt; ++t) {
        f64x8 m = {};
        const double* kr = kd + static_cast<size_t>(t) * dq;
        for (int c = 0; c < dq; c += 8) m = load8(mu + c) * load8(kr + c) + m;
        const double ls = sc * hsum(m) + sc2 * quad[t];
        const double hi = std::max(logscore[t], ls);  // log-sum-exp over the group
        logscore[t] = hi + std::log(std::exp(logscore[t] - hi) + std::exp(ls - hi));
      }
    }
    for (int t = 0; t < nt; ++t) out[static_cast<size_t>(j) * L + t0 + t] = static_cast<float>(logscore[t]);
  });
}

}  // namespace

void statistics(const ab_kv_stat_args& a) {
  switch (a.stat) {
    case AB_KV_KEY_L2NORM: key_l2norm(a); break;
    case AB_KV_KEY_CHANNEL_ABSMEAN: key_channel_absmean(a); break;
    case AB_KV_QUERY_MEAN_COV: query_mean_cov(a); break;
    case AB_KV_EXPECTED_LOGIT: expected_logit(a); break;
  }
}

}  // namespace attnbench::cpu::kv::AB_KV_ISA

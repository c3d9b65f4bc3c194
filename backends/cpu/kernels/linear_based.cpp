// `based`: sliding-window softmax over the last `swa` keys plus Taylor linear attention
// over all older keys, combined as (num_swa + num_lin) / (den_swa + den_lin) (BASED).
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>

#include "attnbench/attention_hooks.h"
#include "linear_attention.h"
#include "tensor_access.h"

AB_CPU_NS_BEGIN
namespace {

/// One (batch, query head) of `based`.
void based_head(const ab_attention_args& a, const LinearOptions& opt, int b, int h) {
  const int d = a.head_dim, lq = len_q_of(a, b), lk = len_k_of(a, b), B = opt.block, W = opt.swa;
  const int hk = kv_head_of(h, a.heads_q, a.heads_kv), off = lk - lq;
  LinearState st(opt, d);
  const int64_t D = st.dim();
  const size_t span_max = static_cast<size_t>(std::min(W, lk)) + B;
  std::vector<float> q(static_cast<size_t>(d)), phi_q(D), phi_k(static_cast<size_t>(B) * D), num(d), lin(d);
  std::vector<float> kw(span_max * d), vw(span_max * d), score(span_max), one_k(d), one_v(d), one_phi(D);
  int done = 0;  // keys absorbed into the linear state
  for (int i0 = 0; i0 < lq; i0 += B) {
    const int n = std::min(B, lq - i0);
    const int s0 = std::clamp(i0 + off - W + 1, 0, lk);     // first key any row of the block sees in its window
    const int s1 = std::clamp(i0 + n + off, 0, lk);         // one past the last visible key
    const int lin_hi = std::clamp(i0 + n - 1 + off - W + 1, 0, lk);  // linear keys of the last row end here
    if (opt.linear) {
      for (; done < s0; ++done) {  // keys that left every window of this block
        const size_t ko = row_offset(b, hk, done, a.heads_kv, a.len_k, d);
        load_row_f32(a.dtype, host_ptr<const void>(a.k), ko, one_k.data(), d);
        load_row_f32(a.dtype, host_ptr<const void>(a.v), ko, one_v.data(), d);
        st.features(one_k.data(), one_phi.data());
        st.absorb(one_phi.data(), one_v.data(), 1);
      }
    }
    for (int j = s0; j < s1; ++j) {
      const size_t ko = row_offset(b, hk, j, a.heads_kv, a.len_k, d);
      load_row_f32(a.dtype, host_ptr<const void>(a.k), ko, kw.data() + static_cast<size_t>(j - s0) * d, d);
      load_row_f32(a.dtype, host_ptr<const void>(a.v), ko, vw.data() + static_cast<size_t>(j - s0) * d, d);
      if (opt.linear && j < lin_hi) st.features(kw.data() + static_cast<size_t>(j - s0) * d, phi_k.data() + (j - s0) * D);
    }
    for (int r = 0; r < n; ++r) {
      const int pos = i0 + r + off;
      const size_t oo = row_offset(b, h, i0 + r, a.heads_q, a.len_q, d);
      if (pos < 0 || lk == 0) {
        store_zero_row(a.dtype, host_ptr<void>(a.o), oo, d);
        continue;
      }
      load_row_f32(a.dtype, host_ptr<const void>(a.q), row_offset(b, h, i0 + r, a.heads_q, a.len_q, d), q.data(), d);
      const int wlo = std::max(0, pos - W + 1), whi = pos + 1;
      float m = 0;  // stabiliser max(0, max score): the linear part is scaled by exp(-m) <= 1
      for (int j = wlo; j < whi; ++j) {
        const float* k = kw.data() + static_cast<size_t>(j - s0) * d;
        float s = 0;
        for (int t = 0; t < d; ++t) s += q[t] * k[t];
        m = std::max(m, score[j - wlo] = s * a.scale);
      }
      std::fill(num.begin(), num.end(), 0.0f);
      float den = 0;
      for (int j = wlo; j < whi; ++j) {
        const float p = std::exp(score[j - wlo] - m);
        const float* v = vw.data() + static_cast<size_t>(j - s0) * d;
        den += p;
        for (int t = 0; t < d; ++t) num[t] += p * v[t];
      }
      if (opt.linear) {
        std::fill(lin.begin(), lin.end(), 0.0f);
        st.features(q.data(), phi_q.data());
        float lden = st.read(phi_q.data(), lin.data());
        for (int j = s0; j < wlo; ++j) {  // older keys not yet in the state
          float w = 0;
          for (int64_t f = 0; f < D; ++f) w += phi_q[f] * phi_k[(j - s0) * D + f];
          const float* v = vw.data() + static_cast<size_t>(j - s0) * d;
          lden += w;
          for (int t = 0; t < d; ++t) lin[t] += w * v[t];
        }
        const float e = std::exp(-m);
        den += e * lden;
        for (int t = 0; t < d; ++t) num[t] += e * lin[t];
      }
      if (!(den > 0)) {
        store_zero_row(a.dtype, host_ptr<void>(a.o), oo, d);
        continue;
      }
      for (float& x : num) x /= den;
      store_row(a.dtype, host_ptr<void>(a.o), oo, num.data(), d);
    }
  }
}

}  // namespace

void based_run(const ab_attention_args& a, const VariantOptions& o) {
  LinearOptions opt;
  parse_based_options(a, o, &opt);
  tbb::parallel_for(0, a.batch * a.heads_q, [&](int bh) { based_head(a, opt, bh / a.heads_q, bh % a.heads_q); });
}

AB_CPU_NS_END

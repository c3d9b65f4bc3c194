// `linear`: blockwise (Lightning Attention) causal / non-causal linear attention, and the
// running state shared with `based`.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cstring>

#include "attnbench/attention_hooks.h"
#include "linear_attention.h"
#include "tensor_access.h"

AB_CPU_NS_BEGIN

LinearState::LinearState(const LinearOptions& opt, int d)
    : opt_(opt), d_(d), D_(linear_attn::feature_dim(opt.feature, opt.fdim, opt.features)) {
  if (opt.feature == linear_attn::FeatureKind::performer) proj_ = linear_attn::performer_projection(opt.features, opt.fdim);
  S_.assign(static_cast<size_t>(D_) * d, 0.0f);
  z_.assign(static_cast<size_t>(D_), 0.0f);
}

void LinearState::reset() {
  std::fill(S_.begin(), S_.end(), 0.0f);
  std::fill(z_.begin(), z_.end(), 0.0f);
}

void LinearState::features(const float* row, float* phi) const {
  linear_attn::apply_feature_map<float>(opt_.feature, row, opt_.fdim, proj_.data(), opt_.features, phi);
}

void LinearState::absorb(const float* phi_k, const float* v, int n) {
  for (int c = 0; c < n; ++c) {
    const float* p = phi_k + static_cast<size_t>(c) * D_;
    const float* vr = v + static_cast<size_t>(c) * d_;
    for (int64_t f = 0; f < D_; ++f) {
      const float w = p[f];
      z_[f] += w;
      float* s = S_.data() + static_cast<size_t>(f) * d_;
      for (int t = 0; t < d_; ++t) s[t] += w * vr[t];
    }
  }
}

float LinearState::read(const float* phi_q, float* num) const {
  float den = 0;
  for (int64_t f = 0; f < D_; ++f) {
    const float w = phi_q[f];
    den += w * z_[f];
    const float* s = S_.data() + static_cast<size_t>(f) * d_;
    for (int t = 0; t < d_; ++t) num[t] += w * s[t];
  }
  return den;
}

namespace {

/// Per-head buffers of one block: rows, features, numerators, denominators.
struct BlockBuffers {
  std::vector<float> q, k, v, phi_q, phi_k, num, den;
  BlockBuffers(int block, int d, int64_t D)
      : q(static_cast<size_t>(block) * d), k(q.size()), v(q.size()), phi_q(static_cast<size_t>(block) * D),
        phi_k(phi_q.size()), num(q.size()), den(block) {}
};

/// Loads keys/values [j0, j0 + n) of (b, kv head hk) and their features into the buffers.
void load_keys(const ab_attention_args& a, const LinearState& st, BlockBuffers& buf, int b, int hk, int j0, int n) {
  const int d = a.head_dim;
  for (int c = 0; c < n; ++c) {
    const size_t off = row_offset(b, hk, j0 + c, a.heads_kv, a.len_k, d);
    load_row_f32(a.dtype, host_ptr<const void>(a.k), off, buf.k.data() + static_cast<size_t>(c) * d, d);
    load_row_f32(a.dtype, host_ptr<const void>(a.v), off, buf.v.data() + static_cast<size_t>(c) * d, d);
    st.features(buf.k.data() + static_cast<size_t>(c) * d, buf.phi_k.data() + static_cast<size_t>(c) * st.dim());
  }
}

/// Absorbs keys [from, to) of (b, hk) into the state, `block` at a time.
void absorb_range(const ab_attention_args& a, LinearState& st, BlockBuffers& buf, int block, int b, int hk, int from,
                  int to) {
  for (int j0 = from; j0 < to; j0 += block) {
    const int n = std::min(block, to - j0);
    load_keys(a, st, buf, b, hk, j0, n);
    st.absorb(buf.phi_k.data(), buf.v.data(), n);
  }
}

float dot(const float* x, const float* y, int64_t n) {
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += x[i] * y[i];
  return s;
}

/// Writes num / den of n rows starting at query row i0 (zeros where den <= 0).
void store_rows(const ab_attention_args& a, BlockBuffers& buf, int b, int h, int i0, int n) {
  const int d = a.head_dim;
  for (int r = 0; r < n; ++r) {
    const size_t off = row_offset(b, h, i0 + r, a.heads_q, a.len_q, d);
    float* num = buf.num.data() + static_cast<size_t>(r) * d;
    if (!(buf.den[r] > 0)) {
      store_zero_row(a.dtype, host_ptr<void>(a.o), off, d);
      continue;
    }
    const float inv = 1.0f / buf.den[r];
    for (int t = 0; t < d; ++t) num[t] *= inv;
    store_row(a.dtype, host_ptr<void>(a.o), off, num, d);
  }
}

/// One (batch, query head) of `linear`.
void linear_head(const ab_attention_args& a, const LinearOptions& opt, int b, int h) {
  const int d = a.head_dim, lq = len_q_of(a, b), lk = len_k_of(a, b), B = opt.block;
  const int hk = kv_head_of(h, a.heads_q, a.heads_kv), off = lk - lq;
  LinearState st(opt, d);
  BlockBuffers buf(B, d, st.dim());
  const int64_t D = st.dim();
  if (!a.causal) absorb_range(a, st, buf, B, b, hk, 0, lk);
  int done = 0;  // keys absorbed (causal)
  for (int i0 = 0; i0 < lq; i0 += B) {
    const int n = std::min(B, lq - i0);
    std::fill(buf.num.begin(), buf.num.end(), 0.0f);
    for (int r = 0; r < n; ++r) {
      load_row_f32(a.dtype, host_ptr<const void>(a.q), row_offset(b, h, i0 + r, a.heads_q, a.len_q, d),
                   buf.q.data() + static_cast<size_t>(r) * d, d);
      st.features(buf.q.data() + static_cast<size_t>(r) * d, buf.phi_q.data() + r * D);
    }
    int klo = 0, khi = 0;  // intra-block keys (causal)
    if (a.causal) {
      klo = std::clamp(i0 + off, 0, lk);
      khi = std::clamp(i0 + n + off, 0, lk);
      absorb_range(a, st, buf, B, b, hk, done, klo);
      done = klo;
    }
    for (int r = 0; r < n; ++r) buf.den[r] = st.read(buf.phi_q.data() + r * D, buf.num.data() + static_cast<size_t>(r) * d);
    if (khi > klo) {
      load_keys(a, st, buf, b, hk, klo, khi - klo);
      for (int r = 0; r < n; ++r) {  // masked quadratic part: keys j <= position of row r
        const int last = std::min(i0 + r + off, khi - 1);
        float* num = buf.num.data() + static_cast<size_t>(r) * d;
        for (int j = klo; j <= last; ++j) {
          const float w = dot(buf.phi_q.data() + r * D, buf.phi_k.data() + (j - klo) * D, D);
          buf.den[r] += w;
          const float* v = buf.v.data() + static_cast<size_t>(j - klo) * d;
          for (int t = 0; t < d; ++t) num[t] += w * v[t];
        }
      }
      st.absorb(buf.phi_k.data(), buf.v.data(), khi - klo);
      done = khi;
    }
    store_rows(a, buf, b, h, i0, n);
  }
}

}  // namespace

void linear_run(const ab_attention_args& a, const VariantOptions& o) {
  LinearOptions opt;
  parse_linear_options(a, o, &opt);
  tbb::parallel_for(0, a.batch * a.heads_q, [&](int bh) { linear_head(a, opt, bh / a.heads_q, bh % a.heads_q); });
}

AB_CPU_NS_END

// The fp64 backward oracle against central finite differences of the forward oracle.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "reference_attention.h"
#include "reference_backward.h"

using namespace attnbench;

namespace {

struct Tiny {
  ab_attention_args a{};
  std::vector<float> q, k, v, d_o;
};

Tiny make_tiny(int hq, int hkv, int lq, int lk, int d, int causal, int window_left, uint32_t seed) {
  Tiny t;
  t.a.batch = 2;
  t.a.heads_q = hq;
  t.a.heads_kv = hkv;
  t.a.len_q = lq;
  t.a.len_k = lk;
  t.a.head_dim = d;
  t.a.causal = causal;
  t.a.window_left = window_left;
  t.a.window_right = -1;
  t.a.scale = 1.0f / std::sqrt(static_cast<float>(d));
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  auto fill = [&](std::vector<float>& x, size_t count) {
    x.resize(count);
    for (float& e : x) e = n(rng);
  };
  fill(t.q, static_cast<size_t>(2) * hq * lq * d);
  fill(t.k, static_cast<size_t>(2) * hkv * lk * d);
  fill(t.v, static_cast<size_t>(2) * hkv * lk * d);
  fill(t.d_o, t.q.size());
  return t;
}

/// The scalar whose gradients dQ, dK, dV are: L = sum(dO * O).
double loss(const Tiny& t) {
  std::vector<double> o(t.q.size());
  reference_attention(t.a, t.q.data(), t.k.data(), t.v.data(), o.data());
  double s = 0;
  for (size_t i = 0; i < o.size(); ++i) s += o[i] * t.d_o[i];
  return s;
}

/// Central difference of the loss in element i of x (x is one of t's tensors); the step
/// actually taken is measured after rounding to fp32.
double numeric_grad(Tiny& t, std::vector<float>& x, size_t i) {
  const float x0 = x[i];
  const float xp = x0 + 1e-2f, xm = x0 - 1e-2f;
  x[i] = xp;
  const double lp = loss(t);
  x[i] = xm;
  const double lm = loss(t);
  x[i] = x0;
  return (lp - lm) / (static_cast<double>(xp) - xm);
}

/// Max over elements of |analytic - numeric|, relative to the largest gradient.
double max_rel_diff(Tiny& t, std::vector<float>& x, const std::vector<double>& g) {
  double worst = 0, scale = 0;
  for (double e : g) scale = std::max(scale, std::fabs(e));
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(g[i] - numeric_grad(t, x, i)));
  return worst / scale;
}

}  // namespace

TEST_CASE("backward oracle matches finite differences of the forward oracle") {
  struct Case { int hq, hkv, lq, lk, d, causal, window; };
  const Case cases[] = {
      {2, 2, 5, 5, 4, 0, -1},   // dense
      {4, 2, 6, 6, 3, 1, -1},   // causal, GQA group of 2
      {2, 1, 3, 7, 4, 1, 2},    // bottom-right causal with a window, len_q < len_k
  };
  for (const Case& c : cases) {
    INFO("hq=" << c.hq << " hkv=" << c.hkv << " lq=" << c.lq << " lk=" << c.lk << " causal=" << c.causal);
    Tiny t = make_tiny(c.hq, c.hkv, c.lq, c.lk, c.d, c.causal, c.window, 7u + c.lq);
    std::vector<double> dq(t.q.size()), dk(t.k.size()), dv(t.v.size());
    reference_backward(t.a, t.q.data(), t.k.data(), t.v.data(), t.d_o.data(), dq.data(), dk.data(), dv.data());
    CHECK(max_rel_diff(t, t.q, dq) < 1e-4);
    CHECK(max_rel_diff(t, t.k, dk) < 1e-4);
    CHECK(max_rel_diff(t, t.v, dv) < 1e-4);
  }
}

TEST_CASE("backward oracle: keys no row sees get zero dK and dV") {
  Tiny t = make_tiny(2, 1, 4, 4, 4, 1, 0, 3);  // window 0: each row sees only its own key
  std::vector<double> dq(t.q.size()), dk(t.k.size()), dv(t.v.size());
  reference_backward(t.a, t.q.data(), t.k.data(), t.v.data(), t.d_o.data(), dq.data(), dk.data(), dv.data());
  // One visible key per row: P = 1, dS = 0, so dQ = dK = 0 and dV sums dO over the heads.
  for (double e : dq) CHECK(e == Approx(0.0).margin(1e-12));
  for (double e : dk) CHECK(e == Approx(0.0).margin(1e-12));
  const size_t d = 4, l = 4;
  for (int b = 0; b < 2; ++b)
    for (size_t j = 0; j < l * d; ++j) {
      const size_t base = static_cast<size_t>(b) * 2 * l * d;
      CHECK(dv[b * l * d + j] == Approx(static_cast<double>(t.d_o[base + j]) + t.d_o[base + l * d + j]));
    }
}

TEST_CASE("forward LSE of the oracle is the log of the softmax denominator") {
  Tiny t = make_tiny(1, 1, 3, 3, 2, 1, -1, 11);
  std::vector<double> o(t.q.size()), lse(2 * 3);
  reference_forward_lse(t.a, t.q.data(), t.k.data(), t.v.data(), o.data(), lse.data());
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < 3; ++i) {
      double sum = 0;
      for (int j = 0; j <= i; ++j) {
        double s = 0;
        for (int c = 0; c < 2; ++c) s += static_cast<double>(t.q[(b * 3 + i) * 2 + c]) * t.k[(b * 3 + j) * 2 + c];
        sum += std::exp(s * t.a.scale);
      }
      CHECK(lse[b * 3 + i] == Approx(std::log(sum)).epsilon(1e-12));
    }
  std::vector<double> ref(t.q.size());
  reference_attention(t.a, t.q.data(), t.k.data(), t.v.data(), ref.data());
  for (size_t i = 0; i < o.size(); ++i) CHECK(o[i] == Approx(ref[i]).epsilon(1e-12));
}

TEST_CASE("backward oracle: per-row dQ and per-key dK, dV equal the full gradients") {
  Tiny t = make_tiny(4, 2, 6, 9, 3, 1, 4, 21);
  std::vector<double> dq(t.q.size()), dk(t.k.size()), dv(t.v.size());
  reference_backward(t.a, t.q.data(), t.k.data(), t.v.data(), t.d_o.data(), dq.data(), dk.data(), dv.data());
  std::vector<double> o(t.q.size()), lse(t.q.size() / 3);
  reference_forward_lse(t.a, t.q.data(), t.k.data(), t.v.data(), o.data(), lse.data());
  const std::vector<RowId> rows = {{0, 0, 0}, {1, 3, 5}, {0, 2, 3}};
  std::vector<double> dq_rows(rows.size() * 3);
  reference_backward_dq_rows(t.a, t.q.data(), t.k.data(), t.v.data(), t.d_o.data(), rows, dq_rows.data());
  for (size_t n = 0; n < rows.size(); ++n)
    for (int c = 0; c < 3; ++c) {
      const size_t off = ((static_cast<size_t>(rows[n].b) * 4 + rows[n].h) * 6 + rows[n].i) * 3 + c;
      CHECK(dq_rows[n * 3 + c] == Approx(dq[off]).margin(1e-12));
    }
  const std::vector<KeyId> keys = {{0, 0, 0}, {1, 1, 8}, {0, 1, 4}};
  std::vector<double> dk_rows(keys.size() * 3), dv_rows(keys.size() * 3);
  reference_backward_kv_rows(t.a, t.q.data(), t.k.data(), t.v.data(), t.d_o.data(), o.data(), lse.data(), keys,
                             dk_rows.data(), dv_rows.data());
  for (size_t n = 0; n < keys.size(); ++n)
    for (int c = 0; c < 3; ++c) {
      const size_t off = ((static_cast<size_t>(keys[n].b) * 2 + keys[n].hk) * 9 + keys[n].j) * 3 + c;
      CHECK(dk_rows[n * 3 + c] == Approx(dk[off]).margin(1e-12));
      CHECK(dv_rows[n * 3 + c] == Approx(dv[off]).margin(1e-12));
    }
}

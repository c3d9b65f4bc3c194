// Tier-2 linear attention (`linear`, `based`) on the CPU backend: the blockwise
// (Lightning) form equals materialised fp64 linear attention for every feature map,
// `based` reduces to exact softmax attention, bad options are refused, and the MQAR
// (Zoology/BASED) recall gap shows through the variants themselves.
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>

#include "linear_feature_maps.h"
#include "test_cpu_common.h"

using namespace attnbench;
using namespace cpu_test;
namespace la = attnbench::linear_attn;

namespace {

/// Materialised fp64 linear attention: O_i = sum_j w_ij v_j / sum_j w_ij, w = phi(q).phi(k).
std::vector<double> naive_linear(const Case& c, la::FeatureKind kind, int fdim, int m) {
  const Shape& s = c.shape;
  const int d = s.head_dim;
  const int64_t D = la::feature_dim(kind, fdim, m);
  const auto proj = la::performer_projection(m, fdim);
  std::vector<double> out(static_cast<size_t>(s.batch) * s.heads_q * s.len_q * d, 0.0);
  std::vector<double> x(d), pq(D), pk(D);
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.heads_q; ++h) {
      const int hk = h / (s.heads_q / s.heads_kv), off = s.len_k - s.len_q;
      for (int i = 0; i < s.len_q; ++i) {
        const size_t qo = ((static_cast<size_t>(b) * s.heads_q + h) * s.len_q + i) * d;
        for (int t = 0; t < d; ++t) x[t] = c.qf[qo + t];
        la::apply_feature_map<double>(kind, x.data(), fdim, proj.data(), m, pq.data());
        double den = 0;
        std::vector<double> num(d, 0.0);
        const int last = s.causal ? std::min(i + off, s.len_k - 1) : s.len_k - 1;
        for (int j = 0; j <= last; ++j) {
          const size_t ko = ((static_cast<size_t>(b) * s.heads_kv + hk) * s.len_k + j) * d;
          for (int t = 0; t < d; ++t) x[t] = c.kf[ko + t];
          la::apply_feature_map<double>(kind, x.data(), fdim, proj.data(), m, pk.data());
          double w = 0;
          for (int64_t f = 0; f < D; ++f) w += pq[f] * pk[f];
          den += w;
          for (int t = 0; t < d; ++t) num[t] += w * c.vf[ko + t];
        }
        for (int t = 0; t < d; ++t) out[qo + t] = den > 0 ? num[t] / den : 0.0;
      }
    }
  return out;
}

/// Runs `variant` on NaN-poisoned outputs; relative L2 error against `ref` (or -1 on refusal/NaN).
double rel_error(const std::string& variant, Case& c, const std::vector<double>& ref) {
  std::fill(c.o.begin(), c.o.end(), 0xFF);
  const cpu::Check chk = cpu::run_variant(variant.c_str(), c.args);
  INFO(variant << ": " << chk.reason);
  REQUIRE(chk.ok());
  std::vector<float> o(ref.size());
  decode(c.shape.dtype, c.o.data(), o.data(), ref.size());
  double e2 = 0, r2 = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isnan(o[i])) return -1;
    e2 += (o[i] - ref[i]) * (o[i] - ref[i]);
    r2 += ref[i] * ref[i];
  }
  return std::sqrt(e2 / std::max(r2, 1e-300));
}

}  // namespace

TEST_CASE("linear: blockwise form equals materialised fp64 linear attention", "[tier2][linear]") {
  struct Map { const char* name; la::FeatureKind kind; int fdim; };
  const Map maps[] = {{"elu1", la::FeatureKind::elu1, 32},
                      {"relu", la::FeatureKind::relu, 32},
                      {"taylor", la::FeatureKind::taylor, 16},
                      {"performer", la::FeatureKind::performer, 32}};
  for (const Map& mp : maps)
    for (bool causal : {true, false})
      for (int block : {1, 7, 64})
        for (auto [lq, lk] : {std::pair{37, 37}, std::pair{101, 101}, std::pair{5, 29}}) {
          Shape s;
          s.batch = 2, s.heads_q = 4, s.heads_kv = 2, s.len_q = lq, s.len_k = lk, s.head_dim = 32, s.causal = causal;
          Case c = make_case(s, 11u + lq + block);
          const int m = 48;
          const std::string v = std::string("linear:feature=") + mp.name + ",block=" + std::to_string(block) +
                                ",features=" + std::to_string(m) + (mp.kind == la::FeatureKind::taylor ? ",fdim=16" : "");
          const double err = rel_error(v, c, naive_linear(c, mp.kind, mp.fdim, m));
          INFO(v << (causal ? " causal" : "") << " Lq" << lq << " Lk" << lk << " err " << err);
          CHECK(err >= 0);
          CHECK(err < 1e-5);
        }
}

TEST_CASE("linear: bf16 storage stays within 16-bit tolerance", "[tier2][linear]") {
  Shape s;
  s.heads_q = 2, s.heads_kv = 2, s.len_q = 70, s.len_k = 70, s.head_dim = 16, s.causal = true, s.dtype = AB_BF16;
  Case c = make_case(s, 3);
  CHECK(rel_error("linear:feature=elu1,block=16", c, naive_linear(c, la::FeatureKind::elu1, 16, 0)) < 1e-2);
}

TEST_CASE("based: swa >= L with the linear part off is exact softmax attention", "[tier2][based]") {
  for (int block : {5, 64}) {
    Shape s;
    s.batch = 2, s.heads_q = 4, s.heads_kv = 1, s.len_q = 53, s.len_k = 53, s.head_dim = 32, s.causal = true;
    Case c = make_case(s, 5u + block);
    for (const char* v : {"based:swa=53,linear=0", "based:swa=1000,linear=1"}) {
      const std::string name = std::string(v) + ",block=" + std::to_string(block);
      const Outcome out = run_and_compare(name.c_str(), c);
      INFO(name << ": " << out.check.reason << " err " << out.rel_l2);
      REQUIRE(out.check.ok());
      CHECK(out.nan_rows == 0);
      CHECK(out.rel_l2 < 1e-5);
    }
  }
}

TEST_CASE("based: a small window plus linear tail approximates softmax better than the window alone", "[tier2][based]") {
  Shape s;
  s.heads_q = 2, s.heads_kv = 2, s.len_q = 200, s.len_k = 200, s.head_dim = 16, s.causal = true;
  Case c = make_case(s, 9);
  const Outcome with = run_and_compare("based:swa=16,fdim=16,block=32", c);
  const Outcome without = run_and_compare("based:swa=16,linear=0", c);
  REQUIRE(with.check.ok());
  REQUIRE(without.check.ok());
  CHECK(with.nan_rows == 0);
  CHECK(with.rel_l2 < without.rel_l2);
}

TEST_CASE("linear/based: bad options and unsupported masks are refused", "[tier2][linear][based]") {
  Shape s;
  s.heads_q = 2, s.heads_kv = 2, s.len_q = 16, s.len_k = 16, s.head_dim = 32, s.causal = true;
  Case c = make_case(s, 1);
  for (const char* v : {"linear:feature=cosine", "linear:block=0", "linear:fdim=33", "linear:features=x",
                        "linear:bogus=1", "based:linear=2", "based:swa=0", "based:fdim=64", "based:feature=elu1"}) {
    INFO(v);
    CHECK(cpu::supports(v, c.args).status == AB_INVALID_ARGUMENT);
  }
  ab_attention_args a = c.args;
  a.softcap = 30.0f;
  CHECK(cpu::supports("linear", a).status == AB_UNSUPPORTED);
  a = c.args;
  a.window_left = 8;
  CHECK(cpu::supports("based", a).status == AB_UNSUPPORTED);
  a = c.args;
  a.causal = 0;
  CHECK(cpu::supports("based", a).status == AB_UNSUPPORTED);
  CHECK(cpu::supports("linear", a).ok());
  a.head_dim = 256;
  CHECK(cpu::supports("linear:feature=taylor,fdim=256", a).status == AB_UNSUPPORTED);  // 65793 x 256 fp32 state
}

TEST_CASE("MQAR through the variants: softmax holds, Taylor linear degrades past its state", "[tier2][linear][mqar]") {
  // N key-value pairs (keys of norm 6 in the first 16 dims, logit 9 on a match), queries are
  // copies of asked keys (cross attention, non-causal); decode by the nearest value.
  const int d = 64, f = 16, nq = 64, D = static_cast<int>(la::feature_dim(la::FeatureKind::taylor, f, 0));
  auto accuracy = [&](const char* variant, int N) {
    Shape s;
    s.heads_q = 1, s.heads_kv = 1, s.len_q = nq, s.len_k = N, s.head_dim = d;
    Case c = make_case(s, 77u + N);
    std::mt19937 rng(5u + N);
    std::vector<int> target(nq);
    for (int n = 0; n < N; ++n) {
      double norm = 0;
      for (int t = 0; t < d; ++t) c.kf[n * d + t] = t < f ? c.kf[n * d + t] : 0.0f, norm += c.kf[n * d + t] * c.kf[n * d + t];
      for (int t = 0; t < f; ++t) c.kf[n * d + t] *= static_cast<float>(6.0 / std::sqrt(norm));
    }
    for (int i = 0; i < nq; ++i) {
      target[i] = static_cast<int>(rng() % N);
      std::copy_n(c.kf.begin() + target[i] * d, d, c.qf.begin() + i * d);
    }
    c.q = store_rounded(s.dtype, c.qf);
    c.k = store_rounded(s.dtype, c.kf);
    c.args.q = Case::buf(c.q), c.args.k = Case::buf(c.k);
    c.args.scale = 1.0f / std::sqrt(static_cast<float>(f));
    REQUIRE(cpu::run_variant(variant, c.args).ok());
    const auto* o = reinterpret_cast<const float*>(c.o.data());
    int correct = 0;
    for (int i = 0; i < nq; ++i) {
      int best = 0;
      double bc = -1e300;
      for (int n = 0; n < N; ++n) {
        double dot = 0, nn = 0;
        for (int t = 0; t < d; ++t) dot += o[i * d + t] * c.vf[n * d + t], nn += c.vf[n * d + t] * c.vf[n * d + t];
        if (dot / std::sqrt(nn) > bc) bc = dot / std::sqrt(nn), best = n;
      }
      correct += best == target[i];
    }
    return static_cast<double>(correct) / nq;
  };
  const char* taylor = "linear:feature=taylor,fdim=16";
  for (int N : {D / 16, D / 2, 2 * D})
    std::printf("MQAR pairs=%4d (D=%d): flash %.2f linear-taylor %.2f\n", N, D, accuracy("flash", N), accuracy(taylor, N));
  CHECK(accuracy(taylor, D / 16) >= 0.9);
  CHECK(accuracy("flash", 2 * D) >= 0.9);
  CHECK(accuracy(taylor, 2 * D) < accuracy(taylor, D / 16) - 0.3);
}

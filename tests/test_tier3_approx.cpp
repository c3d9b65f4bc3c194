// Tier-3 approximate variants on the CPU backend (agent, sea, probsparse, mosa,
// flowformer): each against an fp64 computation of its own definition written here, on
// small cases (a few queries and keys), independently of the kernel code; plus their
// limits (refused masks), their exact corner cases and their pair counts.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "approx_mosa.h"
#include "approx_probsparse.h"
#include "linear_feature_maps.h"
#include "test_cpu_common.h"

using namespace attnbench;
using namespace cpu_test;
namespace la = attnbench::linear_attn;

namespace {

using Rows = std::vector<std::vector<double>>;

/// Row i of head h (of `heads`, `len` rows) of batch b of a [B, heads, len, d] fp32 tensor, in fp64.
std::vector<double> row_of(const std::vector<float>& t, int b, int h, int i, int heads, int len, int d) {
  const size_t off = ((static_cast<size_t>(b) * heads + h) * len + i) * d;
  return std::vector<double>(t.begin() + off, t.begin() + off + d);
}

double dot(const std::vector<double>& x, const std::vector<double>& y) {
  return std::inner_product(x.begin(), x.end(), y.begin(), 0.0);
}

/// softmax(s q . k_j) weighted sum of v_j over the given keys (zeros for none).
std::vector<double> softmax_attend(const std::vector<double>& q, const Rows& k, const Rows& v, double s,
                                   const std::vector<int>& keys) {
  std::vector<double> out(v.empty() ? q.size() : v[0].size(), 0.0);
  if (keys.empty()) return out;
  double mx = -INFINITY, z = 0;
  for (int j : keys) mx = std::max(mx, s * dot(q, k[j]));
  for (int j : keys) {
    const double p = std::exp(s * dot(q, k[j]) - mx);
    z += p;
    for (size_t t = 0; t < out.size(); ++t) out[t] += p * v[j][t];
  }
  for (double& x : out) x /= z;
  return out;
}

std::vector<int> iota_keys(int n) {
  std::vector<int> k(n);
  std::iota(k.begin(), k.end(), 0);
  return k;
}

/// Runs `variant` on NaN-poisoned outputs; max |o - expected| over all rows of every
/// (b, h), where expected(b, h) returns that head's rows.
template <class Expected>
double max_error(const std::string& variant, Case& c, Expected expected) {
  std::fill(c.o.begin(), c.o.end(), 0xFF);
  const cpu::Check chk = cpu::run_variant(variant.c_str(), c.args);
  INFO(variant << ": " << chk.reason);
  REQUIRE(chk.ok());
  const Shape& s = c.shape;
  const int d = s.head_dim;
  std::vector<float> o(static_cast<size_t>(s.batch) * s.heads_q * s.len_q * d);
  decode(s.dtype, c.o.data(), o.data(), o.size());
  double err = 0;
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.heads_q; ++h) {
      const Rows want = expected(b, h);
      for (int i = 0; i < s.len_q; ++i)
        for (int t = 0; t < d; ++t) {
          const double x = o[((static_cast<size_t>(b) * s.heads_q + h) * s.len_q + i) * d + t];
          err = std::isnan(x) ? INFINITY : std::max(err, std::fabs(x - want[i][t]));
        }
    }
  return err;
}

/// The K and V rows of the KV head of query head h.
struct HeadKv {
  Rows q, k, v;
  HeadKv(const Case& c, int b, int h) {
    const Shape& s = c.shape;
    const int hk = h / (s.heads_q / s.heads_kv);
    for (int i = 0; i < s.len_q; ++i) q.push_back(row_of(c.qf, b, h, i, s.heads_q, s.len_q, s.head_dim));
    for (int j = 0; j < s.len_k; ++j) {
      k.push_back(row_of(c.kf, b, hk, j, s.heads_kv, s.len_k, s.head_dim));
      v.push_back(row_of(c.vf, b, hk, j, s.heads_kv, s.len_k, s.head_dim));
    }
  }
};

Shape small_shape(int lq, int lk, int d, bool causal) {
  Shape s;
  s.batch = 2, s.heads_q = 4, s.heads_kv = 2, s.len_q = lq, s.len_k = lk, s.head_dim = d, s.causal = causal;
  return s;
}

/// Visible keys of row i (bottom-right causal alignment).
int visible(const Shape& s, int i) { return s.causal ? std::min(s.len_k, i + s.len_k - s.len_q + 1) : s.len_k; }

cpu::PairCount counted(const char* variant, Case& c) {
  const cpu::Check chk = cpu::run_variant(variant, c.args);
  INFO(variant << ": " << chk.reason);
  REQUIRE(chk.ok());
  return cpu::last_pair_count();
}

}  // namespace

TEST_CASE("agent: softmax(s Q A^T) (softmax(s A K^T) V) with A the pooled query groups", "[tier3][agent]") {
  for (auto [lq, lk, agents] : {std::tuple{6, 5, 2}, std::tuple{7, 9, 3}, std::tuple{4, 3, 64}}) {
    Case c = make_case(small_shape(lq, lk, 8, false), 3u + lq);
    const double s = c.args.scale;
    const std::string variant = "agent:agents=" + std::to_string(agents);
    const double err = max_error(variant, c, [&](int b, int h) {
      const HeadKv x(c, b, h);
      const int n = std::min(agents, lq);
      Rows A, VA, out;
      for (int a = 0; a < n; ++a) {  // agent a: mean of queries [a L / n, (a + 1) L / n)
        std::vector<double> m(8, 0.0);
        const int lo = a * lq / n, hi = (a + 1) * lq / n;
        for (int i = lo; i < hi; ++i)
          for (int t = 0; t < 8; ++t) m[t] += x.q[i][t] / (hi - lo);
        A.push_back(m);
      }
      for (const auto& a : A) VA.push_back(softmax_attend(a, x.k, x.v, s, iota_keys(lk)));
      for (const auto& q : x.q) out.push_back(softmax_attend(q, A, VA, s, iota_keys(n)));
      return out;
    });
    INFO(variant << " Lq" << lq << " Lk" << lk << " err " << err);
    CHECK(err < 1e-5);
    CHECK_FALSE(cpu::last_pair_count().counted);  // not a subset of exact pairs
  }
  Case causal = make_case(small_shape(8, 8, 8, true), 1);
  const cpu::Check r = cpu::run_variant("agent", causal.args);
  CHECK(r.status == AB_UNSUPPORTED);
  CHECK_THAT(r.reason, Catch::Contains("non-causal"));
  CHECK(cpu::run_variant("agent:agents=0", make_case(small_shape(8, 8, 8, false), 1).args).status == AB_UNSUPPORTED);
}

TEST_CASE("sea: exact softmax over each row's top-k keys of a feature-map estimate", "[tier3][sea]") {
  // 12 x 15: the threshold from all scores; 150 x 150: rows of 16 keys (4 k) and more take the
  // sampled bar first.
  for (auto [lq, lk] : {std::pair{12, 15}, std::pair{150, 150}})
  for (bool causal : {false, true})
    for (const char* feature : {"relu", "performer"}) {
      Shape shp = small_shape(lq, lk, 8, causal);
      Case c = make_case(shp, causal ? 5 : 6);
      const int k = 4, m = 16;
      const std::string variant = std::string("sea:k=4,features=16,feature=") + feature;
      la::FeatureKind kind = la::FeatureKind::relu;
      REQUIRE(la::parse_feature_kind(feature, &kind));
      const auto proj = la::performer_projection(m, 8);
      const double err = max_error(variant, c, [&](int b, int h) {
        const HeadKv x(c, b, h);
        const int64_t D = la::feature_dim(kind, 8, m);
        Rows out;
        for (int i = 0; i < shp.len_q; ++i) {
          std::vector<double> pq(D), pk(D);
          la::apply_feature_map<double>(kind, x.q[i].data(), 8, proj.data(), m, pq.data());
          const int n = visible(shp, i);
          std::vector<std::pair<double, int>> est;
          for (int j = 0; j < n; ++j) {
            la::apply_feature_map<double>(kind, x.k[j].data(), 8, proj.data(), m, pk.data());
            est.push_back({-dot(pq, pk), j});  // ascending: largest estimate first, then earlier key
          }
          std::sort(est.begin(), est.end());
          std::vector<int> keys;
          for (int r = 0; r < std::min(k, n); ++r) keys.push_back(est[r].second);
          out.push_back(softmax_attend(x.q[i], x.k, x.v, c.args.scale, keys));
        }
        return out;
      });
      INFO(variant << (causal ? " causal" : "") << " err " << err);
      CHECK(err < 1e-5);
      uint64_t pairs = 0;
      for (int i = 0; i < shp.len_q; ++i) pairs += std::min(k, visible(shp, i));
      const cpu::PairCount p = counted(variant.c_str(), c);
      CHECK(p.counted);
      CHECK(p.pairs == pairs * shp.batch * shp.heads_q);
    }
  // A k above every row's visible count keeps every key: exact attention.
  Case c = make_case(small_shape(20, 20, 16, true), 2);
  const Outcome out = run_and_compare("sea:k=20", c);
  REQUIRE(out.check.ok());
  CHECK(out.rel_l2 < 1e-5);
  CHECK(cpu::run_variant("sea:feature=gauss", c.args).status == AB_UNSUPPORTED);
}

TEST_CASE("probsparse: the top-u queries by max - mean attend exactly, the rest output mean(V)", "[tier3][probsparse]") {
  for (bool causal : {false, true}) {
    // factor=1, L=8: u = ceil(ln 8) = 3 active queries. Rows 2, 4 and 7 get random
    // queries (M > 0 once two sampled keys score differently); the others are zero
    // (every score 0, M = 0), so the active set is known whatever keys are sampled.
    Shape shp = small_shape(8, 8, 8, causal);
    Case c = make_case(shp, 9);
    REQUIRE(cpu::probsparse_count(1, 8) == 3);
    const std::vector<int> active = {2, 4, 7};
    for (int b = 0; b < shp.batch; ++b)
      for (int h = 0; h < shp.heads_q; ++h)
        for (int i = 0; i < 8; ++i)
          if (std::find(active.begin(), active.end(), i) == active.end())
            for (int t = 0; t < 8; ++t) c.qf[((static_cast<size_t>(b) * shp.heads_q + h) * 8 + i) * 8 + t] = 0.0f;
    c.q = store_rounded(shp.dtype, c.qf);
    c.args.q = Case::buf(c.q);
    const double err = max_error("probsparse:factor=1,sample=32", c, [&](int b, int h) {
      const HeadKv x(c, b, h);
      Rows out;
      for (int i = 0; i < 8; ++i) {
        const int n = visible(shp, i);
        if (std::find(active.begin(), active.end(), i) != active.end()) {
          out.push_back(softmax_attend(x.q[i], x.k, x.v, c.args.scale, iota_keys(n)));
          continue;
        }
        std::vector<double> mean(8, 0.0);  // causal: cumulative mean over the visible prefix
        for (int j = 0; j < n; ++j)
          for (int t = 0; t < 8; ++t) mean[t] += x.v[j][t] / n;
        out.push_back(mean);
      }
      return out;
    });
    INFO((causal ? "causal" : "non-causal") << " err " << err);
    CHECK(err < 1e-5);
    const cpu::PairCount p = counted("probsparse:factor=1,sample=32", c);
    CHECK(p.counted);
    uint64_t pairs = 0;
    for (int i : active) pairs += visible(shp, i);
    CHECK(p.pairs == pairs * shp.batch * shp.heads_q);
  }
  // u >= L: every query is active, exact attention.
  Case c = make_case(small_shape(10, 10, 16, true), 4);
  const Outcome out = run_and_compare("probsparse:factor=100", c);
  REQUIRE(out.check.ok());
  CHECK(out.rel_l2 < 1e-5);
  CHECK(cpu::probsparse_count(5, 4096) == 45);  // Informer: 5 * ceil(ln 4096) = 5 * 9
}

TEST_CASE("mosa: each head's top-k tokens by router score attend among themselves", "[tier3][mosa]") {
  for (bool causal : {true, false}) {
    Shape shp = small_shape(10, 10, 8, causal);
    Case c = make_case(shp, 12);
    const int k = 4;
    const std::vector<float> router = cpu::mosa_router(shp.heads_q, 8);
    const double err = max_error("mosa:k=4", c, [&](int b, int h) {
      const HeadKv x(c, b, h);
      std::vector<std::pair<double, int>> score;
      for (int t = 0; t < 10; ++t) {
        double r = 0;
        for (int e = 0; e < 8; ++e) r += x.k[t][e] * router[h * 8 + e];
        score.push_back({-r, t});
      }
      std::sort(score.begin(), score.end());
      std::vector<int> sel;
      for (int r = 0; r < k; ++r) sel.push_back(score[r].second);
      std::sort(sel.begin(), sel.end());
      Rows out(10, std::vector<double>(8, 0.0));  // unselected tokens: zeros
      for (int t : sel) {
        std::vector<int> keys;
        for (int u : sel)
          if (!causal || u <= t) keys.push_back(u);
        out[t] = softmax_attend(x.q[t], x.k, x.v, c.args.scale, keys);
      }
      return out;
    });
    INFO((causal ? "causal" : "non-causal") << " err " << err);
    CHECK(err < 1e-5);
    const cpu::PairCount p = counted("mosa:k=4", c);
    CHECK(p.counted);
    CHECK(p.pairs == static_cast<uint64_t>(shp.batch * shp.heads_q) * (causal ? k * (k + 1) / 2 : k * k));
  }
  // k >= T selects every token: exact attention.
  Case c = make_case(small_shape(33, 33, 16, true), 8);
  const Outcome out = run_and_compare("mosa:k=64", c);
  REQUIRE(out.check.ok());
  CHECK(out.rel_l2 < 1e-5);
  Case cross = make_case(small_shape(4, 9, 8, false), 1);
  CHECK(cpu::run_variant("mosa", cross.args).status == AB_UNSUPPORTED);  // needs len_q == len_k
}

TEST_CASE("flowformer: flow-conserving sigmoid linear attention as the paper's equations", "[tier3][flowformer]") {
  for (auto [lq, lk] : {std::pair{5, 7}, std::pair{9, 9}}) {
    Shape shp = small_shape(lq, lk, 8, false);
    Case c = make_case(shp, 21u + lq);
    const double err = max_error("flowformer", c, [&](int b, int h) {
      const HeadKv x(c, b, h);
      const auto sig = [](const std::vector<double>& r) {
        std::vector<double> o(r.size());
        for (size_t t = 0; t < r.size(); ++t) o[t] = 1.0 / (1.0 + std::exp(-r[t]));
        return o;
      };
      Rows pq, pk;
      for (const auto& r : x.q) pq.push_back(sig(r));
      for (const auto& r : x.k) pk.push_back(sig(r));
      const auto sum = [](const Rows& rows, const std::vector<double>& w) {
        std::vector<double> s(rows[0].size(), 0.0);
        for (size_t i = 0; i < rows.size(); ++i)
          for (size_t t = 0; t < s.size(); ++t) s[t] += w[i] * rows[i][t];
        return s;
      };
      const std::vector<double> ones_q(lq, 1.0), ones_k(lk, 1.0);
      std::vector<double> I(lq), O(lk), invI(lq), invO(lk), Ihat(lq), Ohat(lk);
      for (int i = 0; i < lq; ++i) I[i] = dot(pq[i], sum(pk, ones_k)), invI[i] = 1 / I[i];
      for (int j = 0; j < lk; ++j) O[j] = dot(pk[j], sum(pq, ones_q)), invO[j] = 1 / O[j];
      for (int i = 0; i < lq; ++i) Ihat[i] = dot(pq[i], sum(pk, invO));
      for (int j = 0; j < lk; ++j) Ohat[j] = dot(pk[j], sum(pq, invI));
      double z = 0;
      for (double o : Ohat) z += std::exp(o);
      Rows out;
      for (int i = 0; i < lq; ++i) {
        std::vector<double> r(8, 0.0);
        for (int j = 0; j < lk; ++j) {
          const double w = dot(pq[i], pk[j]) / I[i] * (lk * std::exp(Ohat[j]) / z);  // competition
          for (int t = 0; t < 8; ++t) r[t] += w * x.v[j][t];
        }
        const double alloc = 1.0 / (1.0 + std::exp(-Ihat[i] * lq / lk));  // allocation
        for (double& y : r) y *= alloc;
        out.push_back(r);
      }
      return out;
    });
    INFO("Lq" << lq << " Lk" << lk << " err " << err);
    CHECK(err < 1e-5);
    CHECK_FALSE(cpu::last_pair_count().counted);
  }
  Case causal = make_case(small_shape(6, 6, 8, true), 2);
  CHECK(cpu::run_variant("flowformer", causal.args).status == AB_UNSUPPORTED);
  CHECK(cpu::run_variant("flowformer:k=3", make_case(small_shape(6, 6, 8, false), 2).args).status == AB_UNSUPPORTED);
}

TEST_CASE("tier-3 variants read and write bf16 storage like fp32 on the same values", "[tier3][bf16]") {
  Shape s16 = small_shape(40, 40, 16, false);
  s16.dtype = AB_BF16;
  Case c16 = make_case(s16, 31);
  // The same (bf16-rounded) values stored as fp32.
  Shape s32 = s16;
  s32.dtype = AB_F32;
  Case c32 = make_case(s32, 31);
  c32.qf = c16.qf, c32.kf = c16.kf, c32.vf = c16.vf;
  c32.q = store_rounded(AB_F32, c32.qf), c32.k = store_rounded(AB_F32, c32.kf), c32.v = store_rounded(AB_F32, c32.vf);
  c32.args.q = Case::buf(c32.q), c32.args.k = Case::buf(c32.k), c32.args.v = Case::buf(c32.v);
  for (bool causal : {false, true})
    for (const char* v : {"agent:agents=8", "sea:k=8", "probsparse:factor=2", "mosa:k=16", "flowformer"}) {
      c16.args.causal = c32.args.causal = causal;
      const cpu::Check r32 = cpu::run_variant(v, c32.args);
      if (r32.status == AB_UNSUPPORTED) continue;  // agent and flowformer: non-causal only
      REQUIRE(r32.ok());
      REQUIRE(cpu::run_variant(v, c16.args).ok());
      std::vector<float> o16(c16.qf.size()), o32(c16.qf.size());
      decode(AB_BF16, c16.o.data(), o16.data(), o16.size());
      decode(AB_F32, c32.o.data(), o32.data(), o32.size());
      double err = 0;
      for (size_t i = 0; i < o16.size(); ++i) err = std::max(err, std::fabs(double(o16[i]) - o32[i]));
      INFO(v << (causal ? " causal" : "") << " max |bf16 - fp32| " << err);
      CHECK(err < 2e-2);
    }
}

TEST_CASE("sea and probsparse keep per-sequence lengths (varlen)", "[tier3][varlen]") {
  for (bool causal : {false, true}) {
    Shape s = small_shape(24, 24, 16, causal);
    s.seq_len_q = {24, 17};
    s.seq_len_k = {24, 13};
    Case c = make_case(s, 17);
    // Keeping every key (k, u above the lengths) is exact attention over each sequence's own keys.
    for (const char* v : {"sea:k=64", "probsparse:factor=100"}) {
      const Outcome out = run_and_compare(v, c);
      INFO(v << (causal ? " causal" : "") << ": " << out.check.reason << " err " << out.rel_l2);
      REQUIRE(out.check.ok());
      CHECK(out.nan_rows == 0);
      CHECK(out.rel_l2 < 1e-5);
    }
    CHECK(cpu::run_variant("agent", c.args).status == AB_UNSUPPORTED);  // refuses varlen (and causal)
  }
}

// Tier-2 selection variants of the CPU backend (block_topk, topk_decode, hyper): with a
// selection that keeps every visible key they equal exact attention; on small
// hand-built inputs they keep exactly the keys their definition names; bad options
// and shapes are refused with a reason.
#include <catch2/catch.hpp>

#include "test_cpu_checks.h"
#include "topk_block.h"

using namespace cpu_test;

namespace {

/// Exact softmax attention (fp64) of query (h, i) over the given keys of KV head hk; batch 0.
std::vector<double> attend_keys(const Case& c, int h, int i, int hk, const std::vector<int>& keys) {
  const int d = c.shape.head_dim;
  const float* q = c.qf.data() + (static_cast<size_t>(h) * c.shape.len_q + i) * d;
  std::vector<double> s, out(d, 0.0);
  double m = -1e300, sum = 0;
  for (int t : keys) {
    const float* kr = c.kf.data() + (static_cast<size_t>(hk) * c.shape.len_k + t) * d;
    double x = 0;
    for (int e = 0; e < d; ++e) x += double(q[e]) * kr[e];
    s.push_back(x * c.args.scale);
    m = std::max(m, s.back());
  }
  for (size_t j = 0; j < keys.size(); ++j) {
    const double p = std::exp(s[j] - m);
    sum += p;
    const float* vr = c.vf.data() + (static_cast<size_t>(hk) * c.shape.len_k + keys[j]) * d;
    for (int e = 0; e < d; ++e) out[e] += p * vr[e];
  }
  for (double& x : out) x /= sum;
  return out;
}

/// Output bytes of `variant` on case c (the run must be accepted).
std::vector<unsigned char> run_output(const std::string& variant, Case& c) {
  std::fill(c.o.begin(), c.o.end(), 0);
  REQUIRE(cpu::run_variant(variant.c_str(), c.args).ok());
  return c.o;
}

}  // namespace

TEST_CASE("block_topk keeping every block equals exact attention", "[cpu][tier2][block_topk]") {
  unsigned seed = 1;
  for (const char* opts : {"block=8,k=1000", "block=16,k=1000,per_query=1", "block=5,k=1000"})
    for (bool causal : {false, true})
      for (auto [lq, lk] : {std::pair{37, 37}, {13, 101}, {101, 13}, {1, 50}}) {
        Shape s;
        s.heads_q = 4; s.heads_kv = 2; s.len_q = lq; s.len_k = lk; s.head_dim = 40; s.causal = causal;
        expect_matches_oracle(std::string("block_topk:") + opts, s, seed++);
      }
  Shape w;  // sliding window, batch 2, varlen
  w.batch = 2; w.heads_q = 2; w.len_q = 70; w.len_k = 70; w.head_dim = 32; w.causal = true;
  w.window_left = 20; w.window_right = 0; w.seq_len_q = {70, 33}; w.seq_len_k = {70, 41};
  expect_matches_oracle("block_topk:block=8,k=1000", w, seed++);
  Shape h = w;  // 16-bit storage, softcap, no window
  h.window_left = h.window_right = -1; h.dtype = AB_BF16; h.softcap = 5.0f;
  expect_matches_oracle("block_topk:block=16,k=100", h, seed++);
}

TEST_CASE("block_topk routing keeps the best-scoring blocks plus the local one", "[cpu][tier2][block_topk]") {
  // Hand-checked routing: q = (1, 0); block means along x with scores 0.5, 3, -1, 2.
  const float q[2] = {1, 0};
  const float means[8] = {0.5f, 9, 3, 9, -1, 9, 2, 9};
  CHECK(cpu::block_topk_route(q, means, 2, {0, 1, 2, 3}, 1, -1) == std::vector<int>{1});
  CHECK(cpu::block_topk_route(q, means, 2, {0, 1, 2}, 2, 3) == std::vector<int>{0, 1, 3});
  CHECK(cpu::block_topk_route(q, means, 2, {0, 2}, 1, 3) == std::vector<int>{0, 3});
  CHECK(cpu::block_topk_route(q, means, 2, {0, 1, 2, 3}, 0, 2) == std::vector<int>{2});
  const float tie[4] = {1, 0, 1, 0};  // equal scores: the earlier block wins
  CHECK(cpu::block_topk_route(q, tie, 2, {0, 1}, 1, -1) == std::vector<int>{0});

  // End to end: 4 key blocks of 8; keys of block 1 point along the queries, the
  // others away, so with k=1 query blocks 2 and 3 keep block 1 and their own block.
  Shape s;
  s.len_q = 32; s.len_k = 32; s.head_dim = 4;
  for (bool causal : {false, true}) {
    s.causal = causal;
    Case c = make_case(s, 7);
    std::vector<float> qv(c.qf.size()), kv(c.kf.size());
    for (int i = 0; i < 32; ++i) qv[i * 4] = 1.0f + 0.01f * i, qv[i * 4 + 1] = 0.1f * (i % 3);
    for (int t = 0; t < 32; ++t) kv[t * 4] = (t / 8 == 1) ? 2.0f : -1.0f, kv[t * 4 + 2] = 0.05f * t;
    set_inputs(c, qv, kv, c.vf);
    REQUIRE(cpu::run_variant("block_topk:block=8,k=1", c.args).ok());
    for (int i = 0; i < 32; ++i) {
      // Query block g keeps block 1 and its own block; block 1 itself adds its best
      // other candidate, block 0 (all others tie, the earlier wins), and under causal
      // block 0 has no other visible block.
      const int g = i / 8, end = causal ? i + 1 : 8 * g + 8;
      std::vector<int> keys = g <= 1 ? range(0, causal ? i + 1 : 16) : range(8, 16);
      if (g > 1) for (int t = 8 * g; t < end; ++t) keys.push_back(t);
      INFO("causal " << causal << " row " << i);
      expect_row(out_row(c, 0, i), attend_keys(c, 0, i, 0, keys));
    }
  }
}

TEST_CASE("topk_decode with k >= len_k equals exact attention", "[cpu][tier2][topk_decode]") {
  unsigned seed = 50;
  for (const char* opts : {"k=1000", "k=1000,vote=1", "k=300"})
    for (bool causal : {false, true})
      for (int lq : {1, 5, 16})
        for (auto [hq, hkv] : {std::pair{4, 4}, {8, 2}}) {
          Shape s;
          s.batch = 2; s.heads_q = hq; s.heads_kv = hkv; s.len_q = lq; s.len_k = 300; s.head_dim = 64;
          s.causal = causal;
          expect_matches_oracle(std::string("topk_decode:") + opts, s, seed++);
        }
  Shape v;  // varlen, bf16
  v.batch = 2; v.heads_q = 4; v.heads_kv = 1; v.len_q = 3; v.len_k = 200; v.head_dim = 64;
  v.causal = true; v.dtype = AB_BF16; v.seq_len_q = {3, 1}; v.seq_len_k = {200, 77};
  expect_matches_oracle("topk_decode:k=200,vote=1", v, seed++);
}

TEST_CASE("topk_decode keeps the top-k keys, shared across a group with vote=1", "[cpu][tier2][topk_decode]") {
  // Keys along x with q . k = t (key t); q = (1, 0): top-3 are keys 9, 8, 7.
  Shape s;
  s.len_q = 1; s.len_k = 10; s.head_dim = 2;
  Case c = make_case(s, 3);
  std::vector<float> k(20, 0.0f);
  for (int t = 0; t < 10; ++t) k[t * 2] = static_cast<float>(t) * 0.3f, k[t * 2 + 1] = 1.0f;
  set_inputs(c, {1.0f, 0.0f}, k, c.vf);
  REQUIRE(cpu::run_variant("topk_decode:k=3", c.args).ok());
  expect_row(out_row(c, 0, 0), attend_keys(c, 0, 0, 0, {7, 8, 9}));

  // Two query heads share one KV head with keys A = (1, 0) and B = (0, 1). Head 0
  // prefers A slightly, head 1 prefers B strongly: alone, head 0 keeps A; voting, B.
  Shape g;
  g.heads_q = 2; g.heads_kv = 1; g.len_q = 1; g.len_k = 2; g.head_dim = 2;
  Case v = make_case(g, 4);
  set_inputs(v, {2.0f, 1.9f, -10.0f, 10.0f}, {1, 0, 0, 1}, {1, 0, 0, 1});
  v.args.scale = 1.0f;
  REQUIRE(cpu::run_variant("topk_decode:k=1", v.args).ok());
  CHECK(out_row(v, 0, 0) == std::vector<float>{1, 0});
  CHECK(out_row(v, 1, 0) == std::vector<float>{0, 1});
  REQUIRE(cpu::run_variant("topk_decode:k=1,vote=1", v.args).ok());
  CHECK(out_row(v, 0, 0) == std::vector<float>{0, 1});
  CHECK(out_row(v, 1, 0) == std::vector<float>{0, 1});
}

TEST_CASE("hyper covering every key equals exact attention", "[cpu][tier2][hyper]") {
  unsigned seed = 80;
  for (const char* opts : {"bits=0,block=1000,samples=0", "bits=4,block=8,samples=1000", "bits=16,block=3,samples=500"})
    for (auto [lq, lk] : {std::pair{37, 37}, {13, 101}, {101, 13}, {1, 50}})
      for (ab_dtype t : {AB_F32, AB_BF16}) {
        Shape s;
        s.heads_q = 4; s.heads_kv = 2; s.len_q = lq; s.len_k = lk; s.head_dim = 40; s.dtype = t;
        expect_matches_oracle(std::string("hyper:") + opts, s, seed++);
      }
  Shape v;  // varlen, softcap
  v.batch = 2; v.heads_q = 2; v.len_q = 60; v.len_k = 60; v.head_dim = 32; v.softcap = 4.0f;
  v.seq_len_q = {60, 21}; v.seq_len_k = {45, 60};
  expect_matches_oracle("hyper:bits=3,block=16,samples=60", v, seed++);
}

TEST_CASE("hyper attends to its diagonal block of the sorted order", "[cpu][tier2][hyper]") {
  // bits=0: one bucket, the sorted order is the identity; 4 blocks of 8, no samples.
  Shape s;
  s.len_q = 32; s.len_k = 32; s.head_dim = 8;
  Case c = make_case(s, 21);
  REQUIRE(cpu::run_variant("hyper:bits=0,block=8,samples=0", c.args).ok());
  for (int i = 0; i < 32; ++i) {
    INFO("row " << i);
    expect_row(out_row(c, 0, i), attend_keys(c, 0, i, 0, range(8 * (i / 8), 8 * (i / 8) + 8)));
  }
  // Sampled columns: a rough but finite estimate that differs from the block-only output.
  REQUIRE(cpu::run_variant("hyper:bits=0,block=8,samples=16", c.args).ok());
  const std::vector<float> sampled = out_row(c, 0, 0);
  for (float x : sampled) CHECK(std::isfinite(x));
}

TEST_CASE("topk_decode score=loki with rank >= d selects the exact top-k", "[cpu][tier2][topk_decode][loki]") {
  unsigned seed = 300;
  for (const char* opts : {"k=40", "k=17,vote=1", "k=100"})
    for (bool causal : {false, true})
      for (auto [hq, hkv, lq] : {std::tuple{4, 4, 1}, {8, 2, 16}, {4, 1, 5}}) {
        Shape s;
        s.batch = 2; s.heads_q = hq; s.heads_kv = hkv; s.len_q = lq; s.len_k = 301; s.head_dim = 32;
        s.causal = causal;
        Case c = make_case(s, seed++);
        INFO(opts << " causal " << causal << " hq " << hq << " hkv " << hkv << " lq " << lq);
        const auto exact = run_output(std::string("topk_decode:") + opts, c);
        CHECK(run_output(std::string("topk_decode:score=loki,rank=32,") + opts, c) == exact);
        CHECK(run_output(std::string("topk_decode:score=loki,rank=1000,") + opts, c) == exact);
        CHECK(run_output(std::string("topk_decode:score=exact,") + opts, c) == exact);
      }
  // Covers every key: exact attention, also with fewer keys than dimensions (rank-deficient covariance).
  for (int lk : {300, 20}) {
    Shape s;
    s.batch = 2; s.heads_q = 4; s.heads_kv = 2; s.len_q = 4; s.len_k = lk; s.head_dim = 64; s.causal = true;
    s.dtype = AB_BF16;
    expect_matches_oracle("topk_decode:score=loki,rank=8,k=1000", s, seed++);
  }
}

TEST_CASE("topk_decode score=loki ranks in the principal subspace", "[cpu][tier2][topk_decode][loki]") {
  // Keys on a line c + a_t u: rank 1 captures them completely, so the selection is exact
  // even though q has components outside the subspace.
  Shape s;
  s.len_q = 1; s.len_k = 64; s.head_dim = 8;
  Case c = make_case(s, 31);
  std::mt19937 rng(5);
  std::normal_distribution<float> g;
  std::vector<float> u(8), base(8), k(64 * 8), q(8);
  for (int e = 0; e < 8; ++e) u[e] = g(rng), base[e] = g(rng), q[e] = g(rng);
  for (int t = 0; t < 64; ++t) {
    const float at = g(rng);
    for (int e = 0; e < 8; ++e) k[t * 8 + e] = base[e] + at * u[e];
  }
  set_inputs(c, q, k, c.vf);
  const auto exact = run_output("topk_decode:k=5", c);
  CHECK(run_output("topk_decode:score=loki,rank=1,k=5", c) == exact);
  // Keys spread along x (variance 1400), uncorrelated with a 0.5 offset along y on
  // keys 4, 5; q = (0.01, 1). Exact q . k picks keys 5 (0.6) and 1 (0.5); rank 1 keeps
  // only the x direction and ranks by 0.01 x: keys 1 (x=50) and 3 (x=30); rank 2 is exact.
  Shape t;
  t.len_q = 1; t.len_k = 6; t.head_dim = 2;
  Case d = make_case(t, 32);
  set_inputs(d, {0.01f, 1.0f}, {-50, 0, 50, 0, -30, 0, 30, 0, -10, 0.5f, 10, 0.5f}, d.vf);
  d.args.scale = 1.0f;
  REQUIRE(cpu::run_variant("topk_decode:k=2", d.args).ok());
  expect_row(out_row(d, 0, 0), attend_keys(d, 0, 0, 0, {1, 5}));
  REQUIRE(cpu::run_variant("topk_decode:score=loki,rank=2,k=2", d.args).ok());
  expect_row(out_row(d, 0, 0), attend_keys(d, 0, 0, 0, {1, 5}));
  REQUIRE(cpu::run_variant("topk_decode:score=loki,rank=1,k=2", d.args).ok());
  expect_row(out_row(d, 0, 0), attend_keys(d, 0, 0, 0, {1, 3}));
}

TEST_CASE("topk_decode recycle reuses the top-k of the segment's full row", "[cpu][tier2][topk_decode][recycle]") {
  unsigned seed = 400;
  for (bool causal : {false, true})
    for (auto [hq, hkv, lq] : {std::tuple{4, 4, 1}, {8, 2, 16}, {4, 1, 7}}) {
      Shape s;
      s.batch = 2; s.heads_q = hq; s.heads_kv = hkv; s.len_q = lq; s.len_k = 211; s.head_dim = 32;
      s.causal = causal;
      Case c = make_case(s, seed++);
      INFO("causal " << causal << " hq " << hq << " hkv " << hkv << " lq " << lq);
      CHECK(run_output("topk_decode:k=30,recycle=0", c) == run_output("topk_decode:k=30", c));
      CHECK(run_output("topk_decode:k=30,vote=1,recycle=0", c) == run_output("topk_decode:k=30,vote=1", c));
      for (const char* opts : {"k=211,recycle=3", "k=1000,vote=1,recycle=15", "k=500,recycle=1"})
        expect_matches_oracle(std::string("topk_decode:") + opts, s, seed++);
    }
  Shape w;  // sliding window, varlen
  w.batch = 2; w.heads_q = 4; w.heads_kv = 2; w.len_q = 9; w.len_k = 120; w.head_dim = 32; w.causal = true;
  w.window_left = 50; w.window_right = 0; w.seq_len_q = {9, 4}; w.seq_len_k = {120, 70};
  expect_matches_oracle("topk_decode:k=1000,recycle=2", w, seed++);

  // Hand check, non-causal, recycle=2 over 5 rows: rows 0 and 3 are exact; rows 1, 2
  // use row 0's top-4 by q . k, row 4 uses row 3's.
  Shape h;
  h.len_q = 5; h.len_k = 40; h.head_dim = 16;
  Case c = make_case(h, 77);
  REQUIRE(cpu::run_variant("topk_decode:k=4,recycle=2", c.args).ok());
  auto top4 = [&](int i) {
    std::vector<float> sc(40);
    for (int t = 0; t < 40; ++t)
      for (int e = 0; e < 16; ++e) sc[t] += c.qf[i * 16 + e] * c.kf[t * 16 + e];
    std::vector<int> idx = range(0, 40);
    std::stable_sort(idx.begin(), idx.end(), [&](int x, int y) { return sc[x] > sc[y]; });
    idx.resize(4);
    std::sort(idx.begin(), idx.end());
    return idx;
  };
  for (int i = 0; i < 5; ++i) {
    INFO("row " << i);
    const bool full = i % 3 == 0;
    expect_row(out_row(c, 0, i), attend_keys(c, 0, i, 0, full ? range(0, 40) : top4(i < 3 ? 0 : 3)));
  }
  // Causal, len_q 4 over 10 keys, recycle=3: rows 1..3 add the keys that appeared after row 0.
  Shape cz = h;
  cz.len_q = 4; cz.len_k = 10; cz.causal = true;
  Case z = make_case(cz, 78);
  REQUIRE(cpu::run_variant("topk_decode:k=2,recycle=3", z.args).ok());
  std::vector<float> sc(7);
  for (int t = 0; t < 7; ++t)
    for (int e = 0; e < 16; ++e) sc[t] += z.qf[e] * z.kf[t * 16 + e];
  std::vector<int> idx = range(0, 7);
  std::stable_sort(idx.begin(), idx.end(), [&](int x, int y) { return sc[x] > sc[y]; });
  idx.resize(2);
  std::sort(idx.begin(), idx.end());
  expect_row(out_row(z, 0, 0), attend_keys(z, 0, 0, 0, range(0, 7)));
  for (int i = 1; i < 4; ++i) {
    std::vector<int> keys = idx;
    for (int t = 7; t < 7 + i; ++t) keys.push_back(t);
    INFO("causal row " << i);
    expect_row(out_row(z, 0, i), attend_keys(z, 0, i, 0, keys));
  }
}

TEST_CASE("causal hyper with every visible key sampled equals exact causal attention", "[cpu][tier2][hyper]") {
  unsigned seed = 500;
  for (const char* opts : {"bits=4,block=8,samples=1000", "bits=0,block=1000,samples=0", "bits=16,block=3,samples=101",
                           "bits=2,block=7,samples=100000"})
    for (auto [lq, lk] : {std::pair{37, 37}, {13, 101}, {101, 13}, {1, 51}, {99, 99}})
      for (ab_dtype t : {AB_F32, AB_BF16}) {
        Shape s;
        s.heads_q = 4; s.heads_kv = 2; s.len_q = lq; s.len_k = lk; s.head_dim = 40; s.dtype = t; s.causal = true;
        expect_matches_oracle(std::string("hyper:") + opts, s, seed++);
      }
  Shape w;  // sliding window, varlen, softcap
  w.batch = 2; w.heads_q = 2; w.len_q = 61; w.len_k = 61; w.head_dim = 32; w.softcap = 4.0f; w.causal = true;
  w.window_left = 20; w.window_right = 0; w.seq_len_q = {61, 23}; w.seq_len_k = {45, 61};
  expect_matches_oracle("hyper:bits=3,block=16,samples=61", w, seed++);
}

TEST_CASE("causal hyper masks the diagonal block and samples only visible keys", "[cpu][tier2][hyper]") {
  // bits=0: the sorted order is the identity; blocks of 8 with no samples are causal
  // block-diagonal attention.
  Shape s;
  s.len_q = 32; s.len_k = 32; s.head_dim = 8; s.causal = true;
  Case c = make_case(s, 22);
  REQUIRE(cpu::run_variant("hyper:bits=0,block=8,samples=0", c.args).ok());
  for (int i = 0; i < 32; ++i) {
    INFO("row " << i);
    expect_row(out_row(c, 0, i), attend_keys(c, 0, i, 0, range(8 * (i / 8), i + 1)));
  }
  // Sampled columns of row 0 can only be key 0 (in its own block): exactly key 0's value.
  REQUIRE(cpu::run_variant("hyper:bits=0,block=8,samples=4", c.args).ok());
  expect_row(out_row(c, 0, 0), attend_keys(c, 0, 0, 0, {0}));
  for (int i = 8; i < 32; ++i)
    for (float x : out_row(c, 0, i)) CHECK(std::isfinite(x));
}

TEST_CASE("tier-2 top-k variants refuse bad options and shapes with a reason", "[cpu][tier2]") {
  Shape s;
  s.len_q = 4; s.len_k = 64; s.head_dim = 16;
  Case c = make_case(s, 9);
  for (auto [variant, why] : {std::pair{"block_topk:block=0", "block=0 is outside"},
                              {"block_topk:k=-1", "k=-1 is outside"},
                              {"block_topk:k=abc", "is not an integer"},
                              {"block_topk:per_query=2", "outside [0, 1]"},
                              {"block_topk:topk=3", "unknown option 'topk'"},
                              {"topk_decode:k=0", "k=0 is outside"},
                              {"topk_decode:vote=yes", "is not an integer"},
                              {"topk_decode:bits=2", "unknown option 'bits'"},
                              {"topk_decode:score=pca", "score='pca' is not one of"},
                              {"topk_decode:score=loki,rank=0", "rank=0 is outside"},
                              {"topk_decode:recycle=16", "recycle=16 is outside"},
                              {"topk_decode:score=loki,recycle=2", "separate modes"},
                              {"hyper:bits=17", "bits=17 is outside"},
                              {"hyper:samples=-1", "samples=-1 is outside"},
                              {"hyper:block=", "is not an integer"}}) {
    const cpu::Check r = cpu::supports(variant, c.args);
    INFO(variant << " -> " << r.reason);
    CHECK(r.status == AB_UNSUPPORTED);
    CHECK(r.reason.find(why) != std::string::npos);
    CHECK(cpu::run_variant(variant, c.args).status == AB_UNSUPPORTED);
  }
  Shape p = s;
  p.len_q = 17;
  Case prefill = make_case(p, 10);
  const cpu::Check r = cpu::supports("topk_decode", prefill.args);
  CHECK(r.status == AB_UNSUPPORTED);
  CHECK(r.reason.find("len_q <= 16") != std::string::npos);
  CHECK(cpu::supports("block_topk", prefill.args).ok());
  prefill.args.causal = 1;
  CHECK(cpu::supports("hyper", prefill.args).ok());
}

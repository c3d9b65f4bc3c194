// Tier-2 selection variants hip (HiP hierarchical top-k) and flexprefill (FlexPrefill
// attention-mass block selection) of the CPU backend: with a selection that keeps every
// visible key they equal exact attention; on small hand-built inputs they keep exactly
// the blocks their definition names; bad options are refused with a reason.
#include <catch2/catch.hpp>

#include <cmath>

#include "test_cpu_checks.h"
#include "topk_flexprefill.h"
#include "topk_hip.h"

using namespace cpu_test;

namespace {

/// Exact softmax attention (fp64) of query (0, i) over the given keys; batch 0, one head.
std::vector<double> attend_keys(const Case& c, int i, const std::vector<int>& keys) {
  const int d = c.shape.head_dim;
  const float* q = c.qf.data() + static_cast<size_t>(i) * d;
  std::vector<double> s, out(d, 0.0);
  double m = -1e300, sum = 0;
  for (int t : keys) {
    double x = 0;
    for (int e = 0; e < d; ++e) x += double(q[e]) * c.kf[static_cast<size_t>(t) * d + e];
    s.push_back(x * c.args.scale);
    m = std::max(m, s.back());
  }
  for (size_t j = 0; j < keys.size(); ++j) {
    const double p = std::exp(s[j] - m);
    sum += p;
    for (int e = 0; e < d; ++e) out[e] += p * c.vf[static_cast<size_t>(keys[j]) * d + e];
  }
  for (double& x : out) x /= sum;
  return out;
}

}  // namespace

TEST_CASE("hip and flexprefill keeping every block equal exact attention", "[cpu][tier2][hip][flexprefill]") {
  unsigned seed = 300;
  for (const char* variant : {"hip:block=8,k=1000", "hip:block=5,k=30", "hip:block=16,k=7", "flexprefill:block=8,gamma=1.0",
                              "flexprefill:block=5,gamma=1,sample=3", "flexprefill:block=128,gamma=1"})
    for (bool causal : {false, true})
      for (auto [lq, lk] : {std::pair{37, 37}, {13, 101}, {101, 13}, {1, 50}, {111, 111}}) {
        Shape s;
        s.heads_q = 4; s.heads_kv = 2; s.len_q = lq; s.len_k = lk; s.head_dim = 40; s.causal = causal;
        expect_matches_oracle(variant, s, seed++);
      }
  Shape w;  // sliding window, batch 2, varlen
  w.batch = 2; w.heads_q = 2; w.len_q = 70; w.len_k = 70; w.head_dim = 32; w.causal = true;
  w.window_left = 20; w.window_right = 0; w.seq_len_q = {70, 33}; w.seq_len_k = {70, 41};
  expect_matches_oracle("hip:block=8,k=1000", w, seed++);
  expect_matches_oracle("flexprefill:block=8,gamma=1", w, seed++);
  Shape h = w;  // 16-bit storage, softcap, no window
  h.window_left = h.window_right = -1; h.dtype = AB_BF16; h.softcap = 5.0f;
  expect_matches_oracle("hip:block=16,k=100", h, seed++);
  expect_matches_oracle("flexprefill:block=16,gamma=1,sample=2", h, seed++);
}

TEST_CASE("hip routing: hierarchical halving by centre keys", "[cpu][tier2][hip]") {
  // 8 candidate blocks of 4 tokens, scores peak at token 13 (block 3). k=2: groups
  // {0-3},{4-7}; halves centred at tokens 4, 12, 20, 28 -> keep {2,3},{4,5}; halves
  // centred at 10, 14, 18, 22 -> keep blocks 3 and 2; plus local block 7.
  const std::vector<int> cands = range(0, 8);
  const auto peak13 = [](int t) { return -std::fabs(static_cast<float>(t) - 13.0f); };
  CHECK(cpu::hip_route(cands, 4, 0, 32, 2, peak13, 7) == std::vector<int>{2, 3, 7});
  CHECK(cpu::hip_route(cands, 4, 0, 32, 1, peak13, -1) == std::vector<int>{3});
  CHECK(cpu::hip_route(cands, 4, 0, 32, 8, peak13, 9) == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 9});
  CHECK(cpu::hip_route(cands, 4, 0, 32, 0, peak13, 5) == std::vector<int>{5});
  // A dominant block (a bump of scores around it) is kept wherever it sits, for any k >= 2.
  for (int n : {16, 13})
    for (int k : {2, 3})
      for (int dom = 0; dom < n; ++dom) {
        const auto bump = [&](int t) { return (t / 8 == dom ? 100.0f : 0.0f) - std::fabs(t - (8.0f * dom + 4)); };
        const std::vector<int> kept = cpu::hip_route(range(0, n), 8, 0, 8 * n, k, bump, -1);
        INFO("n " << n << " k " << k << " dominant " << dom);
        CHECK(static_cast<int>(kept.size()) == k);
        CHECK(std::find(kept.begin(), kept.end(), dom) != kept.end());
      }

  // End to end: 8 key blocks of 4; keys of block 5 point along the queries.
  Shape s;
  s.len_q = 32; s.len_k = 32; s.head_dim = 4;
  for (bool causal : {false, true}) {
    s.causal = causal;
    Case c = make_case(s, 11);
    std::vector<float> qv(c.qf.size()), kv(c.kf.size());
    for (int i = 0; i < 32; ++i) qv[i * 4] = 1.0f, qv[i * 4 + 1] = 0.1f * (i % 3);
    for (int t = 0; t < 32; ++t)
      kv[t * 4] = (t / 4 == 5) ? 3.0f : -0.1f * std::fabs(t - 22.0f), kv[t * 4 + 2] = 0.05f * t;
    set_inputs(c, qv, kv, c.vf);
    REQUIRE(cpu::run_variant("hip:block=4,k=2", c.args).ok());
    for (int g = 0; g < 8; ++g) {
      // Expected selection from the routing function with the kernel's scoring rule.
      std::vector<float> qm(4, 0.0f);
      for (int i = 4 * g; i < 4 * g + 4; ++i)
        for (int e = 0; e < 4; ++e) qm[e] += qv[i * 4 + e] / 4.0f;
      const int hi = causal ? 4 * g + 4 : 32;
      std::vector<int> cands;
      for (int j = 0; 4 * j < hi; ++j)
        if (j != g) cands.push_back(j);
      const auto score = [&](int t) {
        float x = 0;
        for (int e = 0; e < 4; ++e) x += qm[e] * kv[t * 4 + e];
        return x;
      };
      const std::vector<int> kept = cpu::hip_route(cands, 4, 0, hi, 2, score, g);
      if (hi > 24) CHECK(std::find(kept.begin(), kept.end(), 5) != kept.end());
      for (int i = 4 * g; i < 4 * g + 4; ++i) {
        INFO("causal " << causal << " row " << i);
        expect_row(out_row(c, 0, i), attend_keys(c, i, keys_of(kept, 4, 0, causal ? i + 1 : 32)));
      }
    }
  }
}

TEST_CASE("flexprefill keeps the smallest block set reaching gamma", "[cpu][tier2][flexprefill]") {
  // Local block 3 (0.25) first, then 1 (0.6) -> 0.85, then 2 (0.1) -> 0.95 >= 0.9.
  const std::vector<float> mass = {0.05f, 0.6f, 0.1f, 0.25f};
  CHECK(cpu::flexprefill_select(mass, 0.9f, 3) == std::vector<int>{1, 2, 3});
  CHECK(cpu::flexprefill_select(mass, 0.5f, 3) == std::vector<int>{1, 3});
  CHECK(cpu::flexprefill_select(mass, 0.2f, 3) == std::vector<int>{3});
  CHECK(cpu::flexprefill_select(mass, 0.55f, -1) == std::vector<int>{1});
  CHECK(cpu::flexprefill_select({0, 0, 1, 0}, 1.0f, 0) == std::vector<int>{0, 1, 2, 3});
  const std::vector<float> flat(8, 0.125f);
  std::vector<float> peaked(8, 0.01f);
  peaked[2] = 0.93f;
  const size_t n_flat = cpu::flexprefill_select(flat, 0.9f, 7).size();
  const size_t n_peak = cpu::flexprefill_select(peaked, 0.9f, 7).size();
  CHECK(n_flat == 8);
  CHECK(n_peak == 2);
  CHECK(n_peak < n_flat);

  // End to end, 4 blocks of 8, queries along x. Peaked: keys of block 1 dominate, so
  // every query block keeps block 1 and its local block only. Flat: all logits equal,
  // the mass is spread, gamma = 0.9 keeps every visible block (exact attention).
  Shape s;
  s.len_q = 32; s.len_k = 32; s.head_dim = 4;
  for (bool causal : {false, true}) {
    s.causal = causal;
    Case c = make_case(s, 13);
    std::vector<float> qv(c.qf.size()), kp(c.kf.size()), kf(c.kf.size());
    for (int i = 0; i < 32; ++i) qv[i * 4] = 1.0f;
    for (int t = 0; t < 32; ++t) {
      kp[t * 4] = (t / 8 == 1) ? 20.0f : 0.0f, kp[t * 4 + 2] = 0.3f * (t % 5);
      kf[t * 4 + 1] = 0.2f * (t % 7), kf[t * 4 + 3] = 1.0f;
    }
    set_inputs(c, qv, kp, c.vf);
    REQUIRE(cpu::run_variant("flexprefill:block=8,sample=4,gamma=0.9", c.args).ok());
    for (int i = 0; i < 32; ++i) {
      const int g = i / 8, end = causal ? i + 1 : 32;
      std::vector<int> blocks = g == 1 ? std::vector<int>{1} : std::vector<int>{1, g};
      if (g == 0 && causal) blocks = {0};
      INFO("peaked, causal " << causal << " row " << i);
      expect_row(out_row(c, 0, i), attend_keys(c, i, keys_of(blocks, 8, 0, end)));
    }
    set_inputs(c, qv, kf, c.vf);
    REQUIRE(cpu::run_variant("flexprefill:block=8,sample=4,gamma=0.9", c.args).ok());
    for (int i = 0; i < 32; ++i) {
      INFO("flat, causal " << causal << " row " << i);
      expect_row(out_row(c, 0, i), attend_keys(c, i, range(0, causal ? i + 1 : 32)));
    }
  }
}

TEST_CASE("hip and flexprefill refuse bad options with a reason", "[cpu][tier2][hip][flexprefill]") {
  Shape s;
  s.len_q = 4; s.len_k = 64; s.head_dim = 16;
  Case c = make_case(s, 9);
  for (auto [variant, why] : {std::pair{"hip:block=0", "block=0 is outside"},
                              {"hip:k=-1", "k=-1 is outside"},
                              {"hip:k=two", "is not an integer"},
                              {"hip:depth=3", "unknown option 'depth'"},
                              {"flexprefill:gamma=0", "gamma=0 is outside (0, 1]"},
                              {"flexprefill:gamma=1.5", "gamma=1.5 is outside (0, 1]"},
                              {"flexprefill:gamma=high", "is not a number"},
                              {"flexprefill:gamma=", "is not a number"},
                              {"flexprefill:sample=0", "sample=0 is outside"},
                              {"flexprefill:block=x", "is not an integer"},
                              {"flexprefill:k=4", "unknown option 'k'"}}) {
    const cpu::Check r = cpu::supports(variant, c.args);
    INFO(variant << " -> " << r.reason);
    CHECK(r.status == AB_UNSUPPORTED);
    CHECK(r.reason.find(why) != std::string::npos);
    CHECK(cpu::run_variant(variant, c.args).status == AB_UNSUPPORTED);
  }
  CHECK(cpu::supports("hip:block=32,k=4", c.args).ok());
  CHECK(cpu::supports("flexprefill:block=64,sample=16,gamma=0.95", c.args).ok());
}

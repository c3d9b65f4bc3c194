// diff on the CPU (Differential Transformer attention): equals the harness's fp64 oracle
// (two reference passes over the halves of the head dim) for any lambda, causal masks,
// GQA, dv != d and 16-bit storage; on hand-made inputs where each map is known exactly
// (one key: both maps are 1; zero queries: both maps are uniform) the output is
// (1 - lambda) times the (mean) value; odd head dims and bad options are refused.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "test_cpu_checks.h"
#include "variant_config.h"
#include "variant_oracle.h"

using namespace cpu_test;

namespace {

Shape diff_shape(int lq, int lk, int hq, int hkv, int d, int dv, ab_dtype t) {
  Shape s;
  s.batch = 2; s.heads_q = hq; s.heads_kv = hkv; s.len_q = lq; s.len_k = lk;
  s.head_dim = d; s.head_dim_v = dv; s.dtype = t;
  return s;
}

}  // namespace

TEST_CASE("diff: against the oracle, lambdas, masks, GQA, dv, dtypes", "[cpu][diff]") {
  unsigned seed = 1;
  for (ab_dtype t : {AB_F32, AB_BF16, AB_F16})
    for (const char* cfg : {"diff", "diff:causal", "diff:causal,lambda=0.5", "diff:lambda=-0.25"}) {
      expect_variant_oracle(cfg, diff_shape(90, 300, 4, 2, 128, 0, t), seed++);
      expect_variant_oracle(cfg, diff_shape(33, 33, 2, 1, 64, 48, t), seed++);
    }
  expect_variant_oracle("diff:causal", diff_shape(1, 500, 8, 8, 34, 0, AB_F32), seed++);  // d/2 odd
}

TEST_CASE("diff: hand-made cases where both maps are known", "[cpu][diff]") {
  // One key: each softmax is 1, so O = (1 - lambda) v.
  Shape s = diff_shape(3, 1, 1, 1, 4, 2, AB_F32);
  s.batch = 1;
  Case c = make_case(s, 5);
  set_inputs(c, c.qf, c.kf, {2.0f, -1.0f});
  REQUIRE(cpu::run_variant("diff:lambda=0.75", c.args).ok());
  for (int i = 0; i < 3; ++i) expect_row(out_row(c, 0, i), {0.5, -0.25});
  // Zero queries: both maps are uniform over the keys, so O = (1 - 0.8) mean(v).
  s = diff_shape(2, 4, 1, 1, 4, 1, AB_F32);
  s.batch = 1;
  Case u = make_case(s, 6);
  set_inputs(u, std::vector<float>(8, 0.0f), u.kf, {1.0f, 2.0f, 3.0f, 6.0f});
  REQUIRE(cpu::run_variant("diff", u.args).ok());
  for (int i = 0; i < 2; ++i) expect_row(out_row(u, 0, i), {0.2 * 3.0});
}

TEST_CASE("diff: odd head dims and bad options are refused", "[cpu][diff]") {
  Case c = make_case(diff_shape(4, 4, 1, 1, 63, 0, AB_F32), 1);
  cpu::Check r = cpu::supports("diff", c.args);
  CHECK(r.status == AB_UNSUPPORTED);
  CHECK_THAT(r.reason, Catch::Contains("even"));
  Case e = make_case(diff_shape(4, 4, 1, 1, 64, 0, AB_F32), 1);
  r = cpu::supports("diff:lambda=abc", e.args);
  CHECK(r.status == AB_UNSUPPORTED);
  CHECK_THAT(r.reason, Catch::Contains("lambda"));
  r = cpu::supports("diff:gamma=1", e.args);
  CHECK(r.status == AB_UNSUPPORTED);
  CHECK_THAT(r.reason, Catch::Contains("unknown option"));
}

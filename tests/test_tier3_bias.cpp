// flash:bias_rank=R on the CPU (FlashBias: additive bias U W^T from the last R columns of
// Q and K, not scaled): equals the harness's fp64 oracle for ranks 1..16, causal or not,
// GQA, softcap and 16-bit storage; on a hand-made ALiBi case (zero attention logits) the
// weights are exactly 2^(j - p) normalised; plain flash is untouched and listed once;
// shapes that do not hold d + R columns are refused with the reason.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <string>

#include "test_cpu_checks.h"
#include "variant_config.h"
#include "variant_oracle.h"

using namespace cpu_test;

namespace {

Shape bias_shape(int lq, int lk, int d, int rank, ab_dtype t) {
  Shape s;
  s.batch = 2; s.heads_q = 4; s.heads_kv = 2; s.len_q = lq; s.len_k = lk;
  s.head_dim = d + rank; s.head_dim_v = d; s.dtype = t;
  return s;
}

}  // namespace

TEST_CASE("flash:bias_rank against the oracle", "[cpu][bias]") {
  unsigned seed = 1;
  for (ab_dtype t : {AB_F32, AB_BF16, AB_F16})
    for (int rank : {1, 2, 8, 16}) {
      const std::string r = std::to_string(rank);
      expect_variant_oracle("flash:bias_rank=" + r, bias_shape(70, 300, 64, rank, t), seed++);
      expect_variant_oracle("flash:causal,bias_rank=" + r, bias_shape(300, 300, 64, rank, t), seed++);
    }
  expect_variant_oracle("flash:causal,softcap=20,bias_rank=8", bias_shape(100, 200, 128, 8, AB_F32), seed++);
}

TEST_CASE("flash:bias_rank with ALiBi factors weighs keys by 2^(j - p)", "[cpu][bias]") {
  // d = 1 with zero query values: the logits are the bias slope (j - p), slope = ln 2.
  Shape s;
  s.len_q = 1; s.len_k = 3; s.head_dim = 3; s.head_dim_v = 1;
  Case c = make_case(s, 3);
  const float m = std::log(2.0f);
  set_inputs(c, {0.0f, -m * 2.0f, m}, {5.0f, 1.0f, 0.0f, -5.0f, 1.0f, 1.0f, 3.0f, 1.0f, 2.0f}, {7.0f, 0.0f, 0.0f});
  REQUIRE(cpu::run_variant("flash:alibi=1,bias_rank=2", c.args).ok());
  expect_row(out_row(c, 0, 0), {7.0 * (0.25 / 1.75)});
}

TEST_CASE("flash:bias_rank: refusals, and plain flash unchanged", "[cpu][bias]") {
  Case c = make_case(bias_shape(4, 4, 64, 8, AB_F32), 1);
  CHECK(cpu::supports("flash:bias_rank=8", c.args).ok());
  cpu::Check r = cpu::supports("flash:bias_rank=4", c.args);
  CHECK(r.status == AB_UNSUPPORTED);
  CHECK_THAT(r.reason, Catch::Contains("head_dim_v"));
  r = cpu::supports("flash:alibi=1,bias_rank=8", c.args);
  CHECK(r.status == AB_UNSUPPORTED);
  CHECK_THAT(r.reason, Catch::Contains("rank 2"));
  r = cpu::supports("flash:alibi=1", c.args);
  CHECK(r.status == AB_UNSUPPORTED);
  CHECK_THAT(r.reason, Catch::Contains("bias_rank"));
  // Plain flash stays tier 1: it takes dv != d as ordinary attention over all 72 columns.
  expect_matches_oracle("flash", bias_shape(20, 30, 64, 8, AB_F32), 2);
  int listed = 0;
  for (const char* const* n = cpu::variant_names(); *n; ++n) listed += std::strcmp(*n, "flash") == 0;
  CHECK(listed == 1);
}

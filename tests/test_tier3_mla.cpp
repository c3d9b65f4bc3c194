// mla on the CPU (DeepSeek-V2 multi-head latent attention decode): with V equal to the
// latent prefix of K it matches the fp64 oracle for DeepSeek's 512 + 64 dims and small
// latent/rope options, 1..16 queries, causal or not, fp32/bf16/fp16; the v buffer is never
// read (poisoned with NaN, the output stays finite); shapes MLA does not describe are
// refused with the reason.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "test_cpu_checks.h"

using namespace cpu_test;

namespace {

Shape mla_shape(int batch, int heads_q, int len_q, int len_k, int latent, int rope, ab_dtype t) {
  Shape s;
  s.batch = batch; s.heads_q = heads_q; s.heads_kv = 1; s.len_q = len_q; s.len_k = len_k;
  s.head_dim = latent + rope; s.head_dim_v = latent; s.dtype = t;
  return s;
}

/// A case whose oracle V is K[..., :dv] while the v buffer the kernel gets holds NaN.
Case latent_case(const Shape& s, unsigned seed) {
  Case c = make_case(s, seed);
  const size_t d = s.head_dim, dv = s.dv(), rows = c.kf.size() / d;
  for (size_t r = 0; r < rows; ++r)
    for (size_t t = 0; t < dv; ++t) c.vf[r * dv + t] = c.kf[r * d + t];
  std::fill(c.v.begin(), c.v.end(), 0xFF);  // NaN in every dtype: reading V would show
  return c;
}

void expect_mla_oracle(const std::string& variant, const Shape& s, unsigned seed) {
  Case c = latent_case(s, seed);
  const Outcome r = run_and_compare(variant.c_str(), c);
  INFO(variant << ": " << describe(s) << " -> " << r.check.reason);
  REQUIRE(r.check.ok());
  INFO("rel L2 error " << r.rel_l2 << ", NaN rows " << r.nan_rows);
  CHECK(r.nan_rows == 0);
  CHECK(r.rel_l2 < tolerance(s.dtype));
}

}  // namespace

TEST_CASE("mla: DeepSeek dims (512 + 64) against the oracle, V never read", "[cpu][mla]") {
  unsigned seed = 1;
  for (ab_dtype t : {AB_F32, AB_BF16, AB_F16})
    for (auto [lq, lk] : {std::pair{1, 2000}, {4, 700}, {16, 300}}) {
      Shape s = mla_shape(2, 16, lq, lk, 512, 64, t);
      s.causal = lq > 1;
      expect_mla_oracle("mla", s, seed++);
    }
}

TEST_CASE("mla: small latent and rope options, odd sizes, varlen", "[cpu][mla]") {
  unsigned seed = 100;
  expect_mla_oracle("mla:latent=64,rope=16", mla_shape(3, 8, 2, 333, 64, 16, AB_F32), seed++);
  expect_mla_oracle("mla:latent=40,rope=8", mla_shape(1, 5, 1, 1500, 40, 8, AB_BF16), seed++);
  expect_mla_oracle("mla:latent=32,rope=0", mla_shape(2, 4, 3, 100, 32, 0, AB_F32), seed++);
  Shape s = mla_shape(3, 4, 2, 900, 64, 16, AB_F32);
  s.seq_len_k = {900, 17, 0};
  s.causal = true;
  expect_mla_oracle("mla:latent=64,rope=16", s, seed++);
}

TEST_CASE("mla: shapes outside MLA are refused with the reason", "[cpu][mla]") {
  auto reason = [](const char* variant, const Shape& s) {
    Case c = make_case(s, 1);
    const cpu::Check r = cpu::supports(variant, c.args);
    CHECK(r.status == AB_UNSUPPORTED);
    return r.reason;
  };
  Shape s = mla_shape(1, 8, 1, 64, 512, 64, AB_F32);
  s.heads_kv = 2;
  CHECK_THAT(reason("mla", s), Catch::Contains("heads_kv must be 1"));
  CHECK_THAT(reason("mla:rope=32", mla_shape(1, 8, 1, 64, 512, 64, AB_F32)), Catch::Contains("latent + rope"));
  s = mla_shape(1, 8, 1, 64, 512, 64, AB_F32);
  s.head_dim_v = 0;
  CHECK_THAT(reason("mla", s), Catch::Contains("head_dim_v must be latent"));
  CHECK_THAT(reason("mla", mla_shape(1, 8, 17, 64, 512, 64, AB_F32)), Catch::Contains("len_q <= 16"));
  CHECK_THAT(reason("mla:latent=x", mla_shape(1, 8, 1, 64, 512, 64, AB_F32)), Catch::Contains("not an integer"));
  CHECK_THAT(reason("mla:depth=3", mla_shape(1, 8, 1, 64, 512, 64, AB_F32)), Catch::Contains("unknown option"));
}

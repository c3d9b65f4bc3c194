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

void expect_bias_oracle(const std::string& config, const Shape& s, unsigned seed) {
  const VariantConfig cfg = parse_variant_config(config);
  Case c = make_case(s, seed);
  c.args.causal = cfg.causal;
  c.args.softcap = cfg.softcap;
  std::fill(c.o.begin(), c.o.end(), 0xFF);
  const cpu::Check r = cpu::run_variant(cfg.kernel_name().c_str(), c.args);
  INFO(config << ": " << describe(s) << " -> " << r.reason);
  REQUIRE(r.ok());
  std::vector<RowId> rows;
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.heads_q; ++h)
      for (int i = 0; i < s.len_q; ++i) rows.push_back({b, h, i});
  const size_t n = rows.size() * s.dv();
  std::vector<double> ref(n);
  variant_reference_rows(cfg, c.args, c.qf.data(), c.kf.data(), c.vf.data(), rows, ref.data());
  std::vector<float> o(n);
  decode(s.dtype, c.o.data(), o.data(), n);
  double err2 = 0, ref2 = 0;
  size_t nans = 0;
  for (size_t e = 0; e < n; ++e) {
    if (std::isnan(o[e])) { ++nans; continue; }
    err2 += (o[e] - ref[e]) * (o[e] - ref[e]);
    ref2 += ref[e] * ref[e];
  }
  const double rel = std::sqrt(err2 / ref2);
  INFO("rel L2 error " << rel << ", NaN elements " << nans);
  CHECK(nans == 0);
  CHECK(rel < tolerance(s.dtype));
}

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
      expect_bias_oracle("flash:bias_rank=" + r, bias_shape(70, 300, 64, rank, t), seed++);
      expect_bias_oracle("flash:causal,bias_rank=" + r, bias_shape(300, 300, 64, rank, t), seed++);
    }
  expect_bias_oracle("flash:causal,softcap=20,bias_rank=8", bias_shape(100, 200, 128, 8, AB_F32), seed++);
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

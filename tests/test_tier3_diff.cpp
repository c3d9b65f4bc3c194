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

/// Runs `config` (a suite variant string) on a random case and compares every row with
/// the harness oracle of that configuration.
void expect_diff_oracle(const std::string& config, const Shape& s, unsigned seed) {
  const VariantConfig cfg = parse_variant_config(config);
  Case c = make_case(s, seed);
  c.args.causal = cfg.causal;
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
      expect_diff_oracle(cfg, diff_shape(90, 300, 4, 2, 128, 0, t), seed++);
      expect_diff_oracle(cfg, diff_shape(33, 33, 2, 1, 64, 48, t), seed++);
    }
  expect_diff_oracle("diff:causal", diff_shape(1, 500, 8, 8, 34, 0, AB_F32), seed++);  // d/2 odd
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

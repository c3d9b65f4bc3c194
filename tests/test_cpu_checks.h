// Catch2 checks shared by the CPU kernel tests (tiers 1 to 3): run a variant against the
// fp64 oracle (plain attention, or the harness oracle of its configuration), hand-set
// inputs, read an output row.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "test_cpu_common.h"
#include "variant_config.h"
#include "variant_oracle.h"

namespace cpu_test {

/// Runs `variant` on a random case of shape `s` and requires it to match the oracle
/// within the dtype's tolerance, with every valid row written.
inline void expect_matches_oracle(const std::string& variant, const Shape& s, unsigned seed) {
  Case c = make_case(s, seed);
  const Outcome r = run_and_compare(variant.c_str(), c);
  INFO(variant << ": " << describe(s) << " -> " << r.check.reason);
  REQUIRE(r.check.ok());
  INFO("rel L2 error " << r.rel_l2 << ", max abs " << r.max_abs << ", NaN rows " << r.nan_rows);
  CHECK(r.nan_rows == 0);
  CHECK(r.rel_l2 < tolerance(s.dtype));
}

/// Every output row of `s`, in the tensor's [b, h, i] order.
inline std::vector<RowId> all_rows(const Shape& s) {
  std::vector<RowId> rows;
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.heads_q; ++h)
      for (int i = 0; i < s.len_q; ++i) rows.push_back({b, h, i});
  return rows;
}

/// Requires a run's output tensor (rows in [b, h, i] order, dtype of s) to hold no NaN
/// and to match the fp64 rows `ref` within the dtype's tolerance (relative L2).
inline void expect_output_matches(const Case& c, const std::vector<double>& ref) {
  const size_t n = ref.size();
  std::vector<float> o(n);
  decode(c.shape.dtype, c.o.data(), o.data(), n);
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
  CHECK(rel < tolerance(c.shape.dtype));
}

/// Runs the suite variant string `config` on NaN-poisoned outputs of a random case and
/// compares every row with the harness oracle of that configuration (variant_oracle.h:
/// the maths of diff, bias_rank, mla ... beside plain attention).
inline void expect_variant_oracle(const std::string& config, const Shape& s, unsigned seed) {
  const VariantConfig cfg = parse_variant_config(config);
  Case c = make_case(s, seed);
  c.args.causal = cfg.causal;
  c.args.softcap = cfg.softcap;
  std::fill(c.o.begin(), c.o.end(), 0xFF);
  const cpu::Check r = cpu::run_variant(cfg.kernel_name().c_str(), c.args);
  INFO(config << ": " << describe(s) << " -> " << r.reason);
  REQUIRE(r.ok());
  const std::vector<RowId> rows = all_rows(s);
  std::vector<double> ref(rows.size() * s.dv());
  variant_reference_rows(cfg, c.args, c.qf.data(), c.kf.data(), c.vf.data(), rows, ref.data());
  expect_output_matches(c, ref);
}

/// Replaces the inputs of an fp32 case by the given values (same sizes).
inline void set_inputs(Case& c, std::vector<float> q, std::vector<float> k, std::vector<float> v) {
  REQUIRE(c.shape.dtype == AB_F32);
  REQUIRE(q.size() == c.qf.size());
  REQUIRE(k.size() == c.kf.size());
  c.qf = std::move(q); c.kf = std::move(k); c.vf = std::move(v);
  c.q = store_rounded(AB_F32, c.qf); c.k = store_rounded(AB_F32, c.kf); c.v = store_rounded(AB_F32, c.vf);
  c.args.q = Case::buf(c.q); c.args.k = Case::buf(c.k); c.args.v = Case::buf(c.v);
}

/// Output row (b=0, head h, row i) of an fp32 case after a run.
inline std::vector<float> out_row(const Case& c, int h, int i) {
  const int d = c.shape.dv();
  const float* o = reinterpret_cast<const float*>(c.o.data());
  const size_t off = (static_cast<size_t>(h) * c.shape.len_q + i) * d;
  return {o + off, o + off + d};
}

/// Requires an output row to equal an fp64 expectation within 1e-5.
inline void expect_row(const std::vector<float>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t e = 0; e < got.size(); ++e) CHECK(got[e] == Approx(want[e]).margin(1e-5));
}

/// The integers [lo, hi).
inline std::vector<int> range(int lo, int hi) {
  std::vector<int> r;
  for (int t = lo; t < hi; ++t) r.push_back(t);
  return r;
}

/// Keys of the given blocks (of `block` tokens) that lie in [lo, hi).
inline std::vector<int> keys_of(const std::vector<int>& blocks, int block, int lo, int hi) {
  std::vector<int> r;
  for (int j : blocks)
    for (int t = std::max(lo, j * block); t < std::min(hi, (j + 1) * block); ++t) r.push_back(t);
  return r;
}

}  // namespace cpu_test

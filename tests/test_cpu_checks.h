// Catch2 checks shared by the CPU kernel tests (tier 1 and tier 2): run a variant
// against the fp64 oracle, hand-set inputs, read an output row.
#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "test_cpu_common.h"

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

}  // namespace cpu_test

// Mann-Whitney U and Hodges-Lehmann against textbook values (R's wilcox.test, tables
// of critical values) and brute-force enumeration of the permutation distribution.
#include <catch2/catch.hpp>

#include <vector>

#include "compare_mann_whitney.h"

using namespace attnbench::compare;

TEST_CASE("exact two-sided p-values without ties match the permutation distribution") {
  // n = m = 3, complete separation: P(U = 0) = 1/20, two-sided 0.1 (also the smallest p).
  const std::vector<double> a = {1, 2, 3}, b = {4, 5, 6};
  MannWhitney r = mann_whitney_u(a, b);
  CHECK(r.exact);
  CHECK(r.u == 0);
  CHECK(r.p_value == Approx(0.1));
  CHECK(r.min_p == Approx(0.1));
  // n = m = 5, complete separation: 2 / C(10, 5) = 2/252.
  const std::vector<double> c = {1, 2, 3, 4, 5}, d = {6, 7, 8, 9, 10};
  r = mann_whitney_u(c, d);
  CHECK(r.p_value == Approx(2.0 / 252));
  CHECK(mann_whitney_u(d, c).u == 25);
  // R: wilcox.test(x, y, alternative = "g") gives W = 35, p = 0.1272 (its help page example);
  // two-sided is twice that: 0.2544122544.
  const std::vector<double> x = {0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46};
  const std::vector<double> y = {1.15, 0.88, 0.90, 0.74, 1.21};
  r = mann_whitney_u(x, y);
  CHECK(r.exact);
  CHECK(r.u == 35);
  CHECK(r.p_value == Approx(0.2544122544).epsilon(1e-9));
  CHECK(mann_whitney_u(y, x).p_value == Approx(r.p_value));
}

TEST_CASE("exact p-values with ties use midranks (conditional permutation distribution)") {
  // Brute force over all C(13, 7) splits of the midranks gives 0.1002331002.
  const std::vector<double> a = {1, 2, 2, 3, 3, 3, 4}, b = {2, 3, 4, 4, 5, 5};
  const MannWhitney r = mann_whitney_u(a, b);
  CHECK(r.exact);
  CHECK(r.u == 8.5);
  CHECK(r.p_value == Approx(0.1002331002).epsilon(1e-9));
  // Everything tied: no evidence at all.
  const std::vector<double> same = {2, 2, 2, 2};
  CHECK(mann_whitney_u(same, same).p_value == 1.0);
  CHECK(mann_whitney_u(same, same).min_p == 1.0);
}

TEST_CASE("the normal approximation with tie and continuity correction matches R") {
  // R: wilcox.test(Ozone ~ Month, data = airquality, subset = Month %in% c(5, 8))
  //    W = 127.5, p-value = 0.0001208 (26 vs 26 values, many ties).
  const std::vector<double> may = {41, 36, 12, 18, 28, 23, 19, 8, 7, 16, 11, 14, 18,
                                   14, 34, 6, 30, 11, 1, 11, 4, 32, 23, 45, 115, 37};
  const std::vector<double> aug = {39, 9, 16, 78, 35, 66, 122, 89, 110, 44, 28, 65, 22,
                                   59, 23, 31, 44, 21, 9, 45, 168, 73, 76, 118, 84, 85};
  const MannWhitney r = mann_whitney_u(may, aug);
  CHECK_FALSE(r.exact);
  CHECK(r.u == 127.5);
  CHECK(r.p_value == Approx(0.0001208078).epsilon(1e-6));
  CHECK(r.min_p < 1e-9);
}

TEST_CASE("degenerate inputs give p = 1") {
  const std::vector<double> empty, one = {1.0};
  CHECK(mann_whitney_u(empty, one).p_value == 1.0);
  CHECK(mann_whitney_u(one, one).p_value == 1.0);
}

TEST_CASE("normal quantile") {
  CHECK(normal_quantile(0.975) == Approx(1.959963985).epsilon(1e-9));
  CHECK(normal_quantile(0.5) == Approx(0.0).margin(1e-12));
  CHECK(normal_quantile(0.025) == Approx(-1.959963985).epsilon(1e-9));
}

TEST_CASE("Hodges-Lehmann shift and its rank interval") {
  // n = m = 10: the textbook two-sided 5% critical value of U is 23, so the interval
  // is [d_(24), d_(77)] of the 100 sorted differences; coverage 1 - 2 P(U <= 23) = 0.95674.
  std::vector<double> x, y;
  for (int i = 0; i < 10; ++i) {
    x.push_back(i);
    y.push_back(i + 5);
  }
  ShiftEstimate e = hodges_lehmann(x, y, 0.95);
  CHECK(e.estimate == 5);
  CHECK(e.lo == 2);
  CHECK(e.hi == 8);
  CHECK(e.confidence == Approx(0.9567429475).epsilon(1e-9));
  // n = m = 3 cannot reach 95%: the widest interval, with its true coverage 0.9.
  const std::vector<double> a = {1, 2, 3}, b = {4, 5, 6};
  e = hodges_lehmann(a, b, 0.95);
  CHECK(e.estimate == 3);
  CHECK(e.lo == 1);
  CHECK(e.hi == 5);
  CHECK(e.confidence == Approx(0.9));
  // Brute-force enumeration for R's example data (y - x shift): -0.305 in [-0.76, 0.15].
  const std::vector<double> rx = {0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46};
  const std::vector<double> ry = {1.15, 0.88, 0.90, 0.74, 1.21};
  e = hodges_lehmann(rx, ry, 0.95);
  CHECK(e.estimate == Approx(-0.305));
  CHECK(e.lo == Approx(-0.76));
  CHECK(e.hi == Approx(0.15));
  CHECK(e.confidence == Approx(0.96003996).epsilon(1e-7));
  // Large samples use the normal approximation and still bracket the true shift.
  std::vector<double> big_x, big_y;
  for (int i = 0; i < 40; ++i) {
    big_x.push_back(i % 13);
    big_y.push_back(i % 13 + 3);
  }
  e = hodges_lehmann(big_x, big_y, 0.95);
  CHECK(e.estimate == 3);
  CHECK(e.lo <= 3);
  CHECK(e.hi >= 3);
  CHECK(e.confidence >= 0.95);
}

// Binary segmentation over a history of medians (harness/src/compare/change_points.h).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "change_points.h"

using attnbench::history::ChangePointOptions;
using attnbench::history::detect_change_points;

namespace {

/// Deterministic noise in [-amp, amp] (a fixed LCG, so every platform sees the same series).
struct Noise {
  uint64_t state;
  double amp;
  double next() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const double u = static_cast<double>(state >> 11) / 9007199254740992.0;  // [0, 1)
    return amp * (2 * u - 1);
  }
};

std::vector<double> series(size_t n, size_t step_at, double step, uint64_t seed, double amp = 0.03) {
  Noise noise{seed, amp};
  std::vector<double> v;
  for (size_t i = 0; i < n; ++i) v.push_back(1e-3 * (i >= step_at ? 1 + step : 1.0) * (1 + noise.next()));
  return v;
}

}  // namespace

TEST_CASE("a +20% step at point 10 of 20 noisy points is found there", "[change_points]") {
  for (uint64_t seed : {1u, 2u, 3u, 42u, 2024u}) {
    INFO("seed " << seed);
    const auto v = series(20, 10, 0.20, seed);
    const auto cps = detect_change_points(v);
    REQUIRE(cps.size() == 1);
    CHECK(cps[0].index >= 9);
    CHECK(cps[0].index <= 11);
    CHECK(cps[0].ratio() == Approx(1.2).margin(0.05));
    CHECK(cps[0].p_value <= 0.01);
  }
}

TEST_CASE("a flat noisy series has no change point", "[change_points]") {
  for (uint64_t seed : {1u, 2u, 3u, 42u, 2024u}) {
    INFO("seed " << seed);
    CHECK(detect_change_points(series(20, 20, 0.0, seed)).empty());
    CHECK(detect_change_points(series(40, 40, 0.0, seed, 0.05)).empty());
  }
}

TEST_CASE("a series of 4 points has no change point, whatever it holds", "[change_points]") {
  CHECK(detect_change_points(std::vector<double>{1, 1, 2, 2}).empty());
  CHECK(detect_change_points(std::vector<double>{1, 1, 10, 10}).empty());
  CHECK(detect_change_points(std::vector<double>{}).empty());
}

TEST_CASE("a step below the 5% floor is not reported, however clear", "[change_points]") {
  // +3%, no noise: the test is decisive, the effect is not worth a flag.
  CHECK(detect_change_points(series(20, 10, 0.03, 7, 0.0)).empty());
}

TEST_CASE("two steps are both found by recursion", "[change_points]") {
  std::vector<double> v = series(30, 30, 0, 5);
  for (size_t i = 10; i < 30; ++i) v[i] *= 1.25;
  for (size_t i = 20; i < 30; ++i) v[i] *= 0.7;
  const auto cps = detect_change_points(v);
  REQUIRE(cps.size() == 2);
  CHECK(cps[0].index == Approx(10).margin(1));
  CHECK(cps[1].index == Approx(20).margin(1));
  CHECK(cps[0].ratio() > 1.15);
  CHECK(cps[1].ratio() < 0.8);
}

TEST_CASE("a slow drift is split somewhere in the middle", "[change_points]") {
  Noise noise{9, 0.01};
  std::vector<double> v;
  for (size_t i = 0; i < 24; ++i) v.push_back(1e-3 * std::pow(1.01, static_cast<double>(i)) * (1 + noise.next()));
  const auto cps = detect_change_points(v);
  REQUIRE_FALSE(cps.empty());
  CHECK(cps.front().index >= 3);
  CHECK(cps.back().index <= 21);
}

TEST_CASE("with bonferroni a short series needs more evidence", "[change_points]") {
  // 6 vs 6 fully separated: exact p = 2/924 ~ 0.0022, times 7 candidate splits > 0.01.
  const auto v = series(12, 6, 0.3, 11);
  CHECK(detect_change_points(v).size() == 1);
  ChangePointOptions strict;
  strict.bonferroni = true;
  CHECK(detect_change_points(v, strict).empty());
}

TEST_CASE("non-positive or non-finite values are refused", "[change_points]") {
  CHECK_THROWS_AS(detect_change_points(std::vector<double>{1, 0, 1, 1, 1, 1}), std::invalid_argument);
  CHECK_THROWS_AS(detect_change_points(std::vector<double>{1, NAN, 1, 1, 1, 1}), std::invalid_argument);
}

// Verdict logic of `compare` on synthetic runs: time (test + threshold), quality,
// status, fingerprints, presence, and the A/A self-check.
#include <catch2/catch.hpp>

#include "compare_verdict.h"

using namespace attnbench::compare;

namespace {

StoredCase make_case(const std::string& key, std::vector<double> seconds, double rel_error = 1e-7) {
  StoredCase c;
  c.case_key = key;
  c.suite = "tiny";
  c.suite_file_hash = "h1";
  c.backend = "cpu";
  c.config = "flash";
  c.dtype = "f32";
  c.shape = "b1.hq2.hk2.lq64.lk64.d64";
  c.status = "ok";
  c.seconds = std::move(seconds);
  c.metrics["rel_error"] = rel_error;
  return c;
}

StoredRun make_run(int64_t id, std::vector<StoredCase> cases) {
  StoredRun r;
  r.run.id = id;
  r.run.build_type = "Release";
  r.cases = std::move(cases);
  return r;
}

std::vector<double> scaled(const std::vector<double>& v, double f) {
  std::vector<double> out;
  for (double x : v) out.push_back(x * f);
  return out;
}

const std::vector<double> kBase = {1.00e-3, 1.01e-3, 0.99e-3, 1.02e-3, 1.005e-3, 0.995e-3};

CaseComparison only_case(const Comparison& c) {
  REQUIRE(c.cases.size() == 1);
  return c.cases.front();
}

bool mentions(const CaseComparison& c, const std::string& text) {
  for (const auto& r : c.reasons)
    if (r.find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("significant and over the threshold is a regression") {
  const auto base = make_run(1, {make_case("k", kBase)});
  const auto cand = make_run(2, {make_case("k", scaled(kBase, 1.2))});
  const Comparison c = compare_runs(base, cand, {});
  const auto& cc = only_case(c);
  CHECK(cc.verdict == Verdict::regression);
  REQUIRE(cc.time);
  CHECK(cc.time->slower);
  CHECK(cc.time->ratio == Approx(1.2));
  CHECK(cc.time->test.p_value == Approx(2.0 / 924));  // complete separation, 6 vs 6
  REQUIRE(cc.time->ratio_ci);
  CHECK(cc.time->ratio_ci->lo > 1.0);
  CHECK(cc.time->ratio_ci->lo <= 1.2);
  CHECK(cc.time->ratio_ci->hi >= 1.2);
  CHECK(mentions(cc, "slower"));
  CHECK(c.has_regression());
}

TEST_CASE("significant but under the threshold passes") {
  const auto base = make_run(1, {make_case("k", kBase)});
  const auto cand = make_run(2, {make_case("k", scaled(kBase, 1.03))});
  const auto& cc = only_case(compare_runs(base, cand, {}));
  REQUIRE(cc.time);
  CHECK(cc.time->test.p_value <= 0.05);
  CHECK_FALSE(cc.time->slower);
  CHECK(cc.verdict == Verdict::pass);
  // ... and the same change fails with a 2% threshold.
  CompareOptions tight;
  tight.threshold = 0.02;
  CHECK(only_case(compare_runs(base, cand, tight)).verdict == Verdict::regression);
}

TEST_CASE("over the threshold but not significant passes") {
  const auto base = make_run(1, {make_case("k", {1.0, 2.0, 1.0, 2.0, 1.0, 2.0})});
  const auto cand = make_run(2, {make_case("k", {1.1, 2.1, 1.1, 2.1, 1.1, 2.1})});
  const auto& cc = only_case(compare_runs(base, cand, {}));
  CHECK(cc.time->ratio > 1.05);
  CHECK(cc.time->test.p_value > 0.05);
  CHECK(cc.verdict == Verdict::pass);
}

TEST_CASE("faster is an improvement, never a failure") {
  const auto base = make_run(1, {make_case("k", kBase)});
  const auto cand = make_run(2, {make_case("k", scaled(kBase, 0.7))});
  const Comparison c = compare_runs(base, cand, {});
  CHECK(only_case(c).verdict == Verdict::improvement);
  CHECK(only_case(c).time->faster);
  CHECK_FALSE(c.has_regression());
}

TEST_CASE("too few repetitions make the time verdict inconclusive, not a pass or a failure") {
  const std::vector<double> three = {1e-3, 1.01e-3, 0.99e-3};
  const auto base = make_run(1, {make_case("k", three)});
  const auto cand = make_run(2, {make_case("k", scaled(three, 2.0))});
  const auto& cc = only_case(compare_runs(base, cand, {}));
  REQUIRE(cc.time);
  CHECK(cc.time->inconclusive);
  CHECK(cc.time->test.min_p == Approx(0.1));
  CHECK(cc.verdict == Verdict::pass);
  CHECK(mentions(cc, "too few repetitions"));
}

TEST_CASE("quality: errors must not grow beyond tolerance, recall must not drop") {
  SECTION("rel_error growth beyond abs 1e-6 + 10% is a regression") {
    const auto cand = make_run(2, {make_case("k", kBase, 5e-6)});
    const auto& cc = only_case(compare_runs(make_run(1, {make_case("k", kBase, 1e-7)}), cand, {}));
    CHECK(cc.verdict == Verdict::regression);
    CHECK(mentions(cc, "rel_error grew"));
  }
  SECTION("growth within tolerance passes") {
    const auto& cc = only_case(compare_runs(make_run(1, {make_case("k", kBase, 1e-3)}),
                                            make_run(2, {make_case("k", kBase, 1.09e-3)}), {}));
    CHECK(cc.verdict == Verdict::pass);
  }
  SECTION("recall drop is a regression, gain an improvement") {
    auto b = make_case("k", {}), c = make_case("k", {});
    b.metrics["recall_accuracy"] = 0.9;
    c.metrics["recall_accuracy"] = 0.85;
    CHECK(only_case(compare_runs(make_run(1, {b}), make_run(2, {c}), {})).verdict == Verdict::regression);
    CompareOptions lenient;
    lenient.recall_tolerance = 0.1;
    CHECK(only_case(compare_runs(make_run(1, {b}), make_run(2, {c}), lenient)).verdict == Verdict::pass);
    CHECK(only_case(compare_runs(make_run(1, {c}), make_run(2, {b}), {})).verdict == Verdict::improvement);
  }
  SECTION("an error metric that became NaN or disappeared is a regression") {
    auto c = make_case("k", kBase);
    c.metrics["rel_error"] = std::numeric_limits<double>::quiet_NaN();
    CHECK(only_case(compare_runs(make_run(1, {make_case("k", kBase)}), make_run(2, {c}), {})).verdict ==
          Verdict::regression);
    c.metrics.erase("rel_error");
    CHECK(only_case(compare_runs(make_run(1, {make_case("k", kBase)}), make_run(2, {c}), {})).verdict ==
          Verdict::regression);
  }
}

TEST_CASE("status: ok to failed is a regression; ok to unsupported is not comparable") {
  auto failed = make_case("k", {});
  failed.status = "failed";
  failed.message = "relative error 1 exceeds";
  const auto& cc = only_case(compare_runs(make_run(1, {make_case("k", kBase)}), make_run(2, {failed}), {}));
  CHECK(cc.verdict == Verdict::regression);
  CHECK(mentions(cc, "status ok -> failed"));
  auto unsupported = failed;
  unsupported.status = "unsupported";
  CHECK(only_case(compare_runs(make_run(1, {make_case("k", kBase)}), make_run(2, {unsupported}), {})).verdict ==
        Verdict::not_comparable);
  // Failing in both runs is not new.
  CHECK(only_case(compare_runs(make_run(1, {failed}), make_run(2, {failed}), {})).verdict == Verdict::pass);
  CHECK(only_case(compare_runs(make_run(1, {failed}), make_run(2, {make_case("k", kBase)}), {})).verdict ==
        Verdict::improvement);
}

TEST_CASE("fingerprint mismatches are reported with the differing part") {
  auto other = make_case("k", scaled(kBase, 3.0));
  other.suite_file_hash = "h2";
  auto cc = only_case(compare_runs(make_run(1, {make_case("k", kBase)}), make_run(2, {other}), {}));
  CHECK(cc.verdict == Verdict::not_comparable);
  CHECK(mentions(cc, "suite_file_hash: 'h1' vs 'h2'"));
  CHECK_FALSE(cc.time);  // never timed against an incomparable case

  auto debug = make_run(2, {make_case("k", kBase)});
  debug.run.build_type = "Debug";
  cc = only_case(compare_runs(make_run(1, {make_case("k", kBase)}), debug, {}));
  CHECK(cc.verdict == Verdict::not_comparable);
  CHECK(mentions(cc, "build_type: 'Release' vs 'Debug'"));

  auto gen = make_run(2, {make_case("k", kBase)});
  gen.generator_version = "2";
  CHECK(mentions(only_case(compare_runs(make_run(1, {make_case("k", kBase)}), gen, {})), "generator"));

  auto reshaped = make_case("k", kBase);
  reshaped.config = "flash:causal";
  CHECK(mentions(only_case(compare_runs(make_run(1, {make_case("k", kBase)}), make_run(2, {reshaped}), {})),
                 "config: 'flash' vs 'flash:causal'"));
}

TEST_CASE("cases present in one run only are listed") {
  const auto base = make_run(1, {make_case("a", kBase), make_case("b", kBase)});
  const auto cand = make_run(2, {make_case("b", kBase), make_case("c", kBase)});
  const Comparison c = compare_runs(base, cand, {});
  REQUIRE(c.cases.size() == 3);
  CHECK(c.cases[0].case_key == "a");
  CHECK(c.cases[0].verdict == Verdict::only_base);
  CHECK(c.cases[1].verdict == Verdict::pass);
  CHECK(c.cases[2].case_key == "c");
  CHECK(c.cases[2].verdict == Verdict::only_cand);
  CHECK(c.count(Verdict::only_base) == 1);
  CHECK(c.count(Verdict::only_cand) == 1);
  CHECK_FALSE(c.has_regression());
}

TEST_CASE("A/A self-check flags nothing on exchangeable halves and everything on a trend") {
  std::vector<double> flat;
  for (int i = 0; i < 10; ++i) flat.push_back(1e-3 * (1 + 0.01 * ((i * 7) % 5)));
  AaResult r = aa_false_alarm(make_run(1, {make_case("a", flat), make_case("short", {1e-3, 1e-3})}), {});
  CHECK(r.cases == 1);  // "short" has fewer than 4 repetitions
  CHECK(r.testable == 1);
  CHECK(r.flagged_slower + r.flagged_faster == 0);
  CHECK(r.false_alarm_rate() == 0.0);
  // Odd repetitions twice as slow: a real difference between halves, which A/A flags.
  std::vector<double> alternating;
  for (int i = 0; i < 10; ++i) alternating.push_back(i % 2 ? 2e-3 : 1e-3);
  r = aa_false_alarm(make_run(1, {make_case("a", alternating)}), {});
  CHECK(r.flagged_slower == 1);
  CHECK(r.false_alarm_rate() == 1.0);
}

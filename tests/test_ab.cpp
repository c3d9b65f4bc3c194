// Interleaved A/B runs: the paired signed-rank statistics against published values,
// and `attnbench ab` end to end: a candidate made 2x slower is flagged on every case,
// the same build against itself is not, and both sides land as two stored runs.
#include <catch2/catch.hpp>

#include <cmath>

#include "cli_harness.h"
#include "compare_paired.h"

using namespace attnbench::test;
using namespace attnbench::compare;

TEST_CASE("signed-rank test matches R's wilcox.test(paired = TRUE)") {
  // Hollander & Wolfe's depression scores (R's ?wilcox.test example): V = 40, p = 0.03906.
  const std::vector<double> x = {1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30};
  const std::vector<double> y = {0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29};
  std::vector<double> d;
  for (size_t i = 0; i < x.size(); ++i) d.push_back(x[i] - y[i]);
  const SignedRank r = signed_rank_test(d);
  CHECK(r.exact);
  CHECK(r.w_plus == 40);
  CHECK(r.p_value == Approx(0.03906).margin(5e-5));
  CHECK(r.min_p == Approx(2.0 / 512));
  // All differences one way: the smallest p; balanced differences: p = 1.
  CHECK(signed_rank_test(std::vector<double>{1, 2, 3, 4, 5, 6}).p_value == Approx(2.0 / 64));
  CHECK(signed_rank_test(std::vector<double>{1, -1, 2, -2}).p_value == Approx(1.0));
}

TEST_CASE("paired comparison: ratio, interval and verdict") {
  CompareOptions o;
  std::vector<double> a, b;
  for (int i = 0; i < 10; ++i) {
    const double drift = 1.0 + 0.2 * std::sin(i);  // shared by both sides of a pair
    a.push_back(1e-3 * drift);
    b.push_back(1.1e-3 * drift * (1 + 0.001 * (i % 3)));
  }
  const PairedComparison c = compare_paired(a, b, o);
  CHECK(c.ratio == Approx(1.101).margin(2e-3));
  CHECK(c.lo <= c.ratio);
  CHECK(c.hi >= c.ratio);
  CHECK(c.lo > 1.09);
  CHECK(c.confidence >= 0.95);
  CHECK(c.slower);
  CHECK_FALSE(c.faster);
  // The drift (20%) is far larger than the difference (10%): unpaired medians would
  // blur it; pairs do not. The same data compared with itself is no verdict.
  const PairedComparison same = compare_paired(a, a, o);
  CHECK_FALSE(same.slower);
  CHECK_FALSE(same.faster);
  CHECK(same.ratio == Approx(1.0));
  // Five pairs cannot reach p <= 0.05: inconclusive, never a regression.
  const std::vector<double> a5(a.begin(), a.begin() + 5), b5(b.begin(), b.begin() + 5);
  const PairedComparison few = compare_paired(a5, b5, o);
  CHECK(few.inconclusive);
  CHECK_FALSE(few.slower);
}

TEST_CASE("ab flags a candidate made slower on purpose and stores both sides as runs") {
  TempDir t;
  write_file(t / "s.json", R"({"suite": "abs", "defaults": {"phase": "prefill", "check": "sampled", "repetitions": 3,
    "min_time": 0.01, "axes": {"heads_q": 4, "heads_kv": 2, "head_dim": 64}},
    "groups": [{"name": "g", "variants": ["flash:causal"], "axes": {"len": [256, 512]}}]})");
  const std::string db = t / "r.db";
  const std::string base = "ab --a '" ATTNBENCH_BIN_DIR "/plugins' --backend cpu --no-peaks --suite " + t / "s.json" +
                           " --db " + db;
  const CmdResult slow = run_attnbench(base + " --b '" ATTNBENCH_SLOWED_PLUGIN_DIR "' --b-options slowdown=1");
  INFO(slow.out << slow.err);
  CHECK(slow.code == 1);
  CHECK_THAT(slow.out, Catch::Contains("2 cases, 2 slower, 0 faster"));
  CHECK(query_one(db, "SELECT count(*) FROM runs WHERE status = 'complete'") == "2");
  CHECK(query_one(db, "SELECT count(*) FROM cases WHERE run_id = 1 AND status = 'ok'") == "2");
  CHECK(query_one(db, "SELECT count(*) FROM cases WHERE run_id = 2 AND status = 'ok'") == "2");
  CHECK(query_one(db, "SELECT count(*) FROM samples") == "40");  // 10 pairs x 2 cases x 2 sides
  const double ratio = std::stod(query_one(
      db, "SELECT b.value / a.value FROM metrics a JOIN cases ca ON ca.id = a.case_id JOIN cases cb"
          " ON cb.case_key = ca.case_key AND cb.run_id = 2 JOIN metrics b ON b.case_id = cb.id AND b.name = 'time_median'"
          " WHERE ca.run_id = 1 AND a.name = 'time_median' LIMIT 1"));
  CHECK(ratio > 1.5);
  CHECK(ratio < 2.7);
  // Both runs read as usual: compare sees the same regression.
  CHECK(run_attnbench("compare --db " + db + " 1 2").code == 1);

  // The same build against itself: no regression at a threshold above this machine's noise.
  const CmdResult same = run_attnbench(base + " --b '" ATTNBENCH_BIN_DIR "/plugins' --threshold 50%");
  INFO(same.out << same.err);
  CHECK(same.code == 0);
  CHECK_THAT(same.out, Catch::Contains("0 slower"));
}

TEST_CASE("ab refuses folders without the backend") {
  TempDir t;
  const CmdResult r = run_attnbench("ab --a '" ATTNBENCH_BIN_DIR "/plugins' --b " + t.path.string() +
                                    " --backend cpu --suite correctness --quick --db " + t / "r.db");
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Catch::Contains("no 'cpu' plugin in"));
  CHECK_FALSE(std::filesystem::exists(t / "r.db"));
}

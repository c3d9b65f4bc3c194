// `reproduce`: the agreement check on synthetic runs, and end to end through the CLI.
#include <catch2/catch.hpp>

#include <cmath>

#include "ci_flow_helpers.h"
#include "reproduce.h"

using namespace attnbench;
using namespace attnbench::test;

namespace {

compare::StoredRun one_case_run(int64_t id, double rel_error, double time_median) {
  compare::StoredCase c;
  c.case_key = "k";
  c.config = "naive";
  c.status = "ok";
  c.seconds = {1e-3, 1.01e-3, 0.99e-3, 1.02e-3, 1e-3, 0.98e-3};
  c.metrics = {{"rel_error", rel_error}, {"time_median", time_median}, {"flops_per_second", 1 / time_median}};
  compare::StoredRun r;
  r.run.id = id;
  r.cases = {c};
  return r;
}

}  // namespace

TEST_CASE("quality metrics must agree bit for bit; timing metrics only within noise") {
  const auto a = one_case_run(1, 1e-7, 1e-3);
  CHECK(check_reproduction(a, one_case_run(2, 1e-7, 1.1e-3), {}).agrees());  // timing metrics are not bitwise
  const auto r = check_reproduction(a, one_case_run(2, std::nextafter(1e-7, 1.0), 1e-3), {});
  CHECK_FALSE(r.agrees());
  REQUIRE(r.mismatches.size() == 1);
  CHECK_THAT(r.mismatches[0], Catch::Contains("rel_error differs"));
  CHECK(r.quality_checked == 1);
  // NaN (stored as NULL) matches NaN.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(check_reproduction(one_case_run(1, nan, 1e-3), one_case_run(2, nan, 1e-3), {}).agrees());

  auto failed = one_case_run(2, 1e-7, 1e-3);
  failed.cases[0].status = "failed";
  CHECK_FALSE(check_reproduction(a, failed, {}).agrees());
  auto empty = one_case_run(2, 1e-7, 1e-3);
  empty.cases.clear();
  CHECK_FALSE(check_reproduction(a, empty, {}).agrees());
  auto slower = one_case_run(2, 1e-7, 1e-3);
  for (double& s : slower.cases[0].seconds) s *= 1.5;
  CHECK_FALSE(check_reproduction(a, slower, {}).agrees());
  auto faster = one_case_run(2, 1e-7, 1e-3);
  for (double& s : faster.cases[0].seconds) s *= 0.5;
  CHECK_FALSE(check_reproduction(a, faster, {}).agrees());  // reproduction is two-sided
}

TEST_CASE("timing-metric names") {
  for (const char* n : {"time_median", "case_wall_time", "compress_time", "flops_per_second", "bytes_per_second",
                        "fraction_peak_flops", "harness_overhead_per_call"})
    CHECK(is_timing_metric(n));
  for (const char* n : {"rel_error", "recall_accuracy", "kv_bytes", "rows_checked", "output_error_vs_full"})
    CHECK_FALSE(is_timing_metric(n));
}

TEST_CASE("reproduce re-runs a stored run and agrees with it; a perturbed build does not") {
  TempDir t;
  write_file(t / "ci.json", ci_suite_json());
  const std::string db = t / "r.db";
  const std::string run = "run --suite " + t / "ci.json --backend slow --no-peaks --seed 5 --db " + db;
  REQUIRE(run_attnbench(run, slow_env(20)).code == 0);

  CmdResult r = run_attnbench("reproduce 1 --no-peaks --db " + db, slow_env(20));
  INFO(r.out << r.err);
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("reproduce run 1 as run 2") && Catch::Contains("agrees"));
  CHECK(query_one(db, "SELECT seed FROM runs WHERE id = 2") == "5");
  CHECK(query_one(db, "SELECT selection FROM runs WHERE id = 2") == query_one(db, "SELECT selection FROM runs WHERE id = 1"));
  CHECK(query_one(db, "SELECT count(*) FROM cases WHERE run_id = 2") == "2");

  r = run_attnbench("reproduce 1 --no-peaks --db " + db, slow_env(20, "1e-6"));
  CHECK(r.code == 1);
  CHECK_THAT(r.out, Catch::Contains("rel_error differs"));

  r = run_attnbench("reproduce 1 --no-peaks --db " + db, slow_env(60));
  CHECK(r.code == 1);
  CHECK_THAT(r.out, Catch::Contains("time slower"));

  r = run_attnbench("reproduce 42 --db " + db, slow_env(20));
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Catch::Contains("run 42 not found"));
}

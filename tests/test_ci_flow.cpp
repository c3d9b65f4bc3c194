// The whole CI regression flow through the CLI, as scripts/ci-compare.yml runs it:
// baseline run, candidate run, compare (pass); then a candidate made slower on purpose
// and one made less accurate must both fail compare with the right verdict.
#include <catch2/catch.hpp>

#include <filesystem>

#include "ci_flow_helpers.h"

using namespace attnbench::test;

namespace {

/// Every test below shares one database with a baseline (run 1) and an A/A candidate (run 2).
struct Flow {
  TempDir t;
  std::string db = t / "results.db";
  std::string suite = t / "ci.json";
  Flow() {
    write_file(suite, ci_suite_json());
    for (int i = 0; i < 2; ++i) {
      const CmdResult r = run_attnbench(run_args(), slow_env(20));
      INFO(r.err);
      REQUIRE(r.code == 0);
    }
  }
  std::string run_args(const std::string& extra = "") const {
    return "run --suite " + suite + " --backend slow --no-peaks --db " + db + " " + extra;
  }
  CmdResult compare(const std::string& args) const { return run_attnbench("compare --db " + db + " " + args); }
};

}  // namespace

TEST_CASE("same build twice passes compare; md and junit reports are written") {
  Flow f;
  // The threshold is wider than the 5% default because this test shares a loaded machine.
  CmdResult r = f.compare("1 2 --threshold 20%");
  INFO(r.out << r.err);
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("2 cases: 0 regressions"));
  r = f.compare("1 2 --threshold 20% --format md -o " + f.t / "compare.md");
  CHECK(r.code == 0);
  CHECK_THAT(read_file(f.t / "compare.md"), Catch::StartsWith("### attnbench compare: no regressions"));
  r = f.compare("1 2 --threshold 20% --format junit -o " + f.t / "compare.xml");
  CHECK(r.code == 0);
  const std::string xml = read_file(f.t / "compare.xml");
  CHECK_THAT(xml, Catch::Contains("tests=\"2\" failures=\"0\""));

  const CmdResult aa = f.compare("--aa 1");
  CHECK(aa.code == 0);
  CHECK_THAT(aa.out, Catch::Contains("2 testable") && Catch::Contains("false-alarm rate"));
}

TEST_CASE("a candidate made slower on purpose fails compare as a time regression") {
  Flow f;
  REQUIRE(run_attnbench(f.run_args(), slow_env(60)).code == 0);  // run 3: three times the delay
  CmdResult r = f.compare("1 3");
  INFO(r.out << r.err);
  CHECK(r.code == 1);
  CHECK_THAT(r.out, Catch::Contains("2 regressions") && Catch::Contains("slower: median x"));
  r = f.compare("1 3 --format junit");
  CHECK(r.code == 1);
  CHECK_THAT(r.out, Catch::Contains("<failure message=\"slower"));
  r = f.compare("1 3 --format md");
  CHECK_THAT(r.out, Catch::Contains("#### Regressions"));
  // Swapped, the same pair is an improvement, which never fails.
  r = f.compare("3 1");
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("2 improvements"));
}

TEST_CASE("a candidate made less accurate fails compare as a quality regression") {
  Flow f;
  // Noise 5e-6 keeps the fp32 check passing (threshold 1e-5) but grows rel_error ~10x.
  REQUIRE(run_attnbench(f.run_args(), slow_env(20, "5e-6")).code == 0);  // run 3
  CmdResult r = f.compare("1 3 --threshold 20%");
  INFO(r.out << r.err);
  CHECK(r.code == 1);
  CHECK_THAT(r.out, Catch::Contains("rel_error grew"));
  // A looser error tolerance accepts it.
  CHECK(f.compare("1 3 --threshold 20% --error-tolerance 1e-4").code == 0);

  // Noise 1e-3 fails the oracle check itself: ok -> failed.
  CHECK(run_attnbench(f.run_args(), slow_env(20, "1e-3")).code == 1);  // run 4
  r = f.compare("1 4 --threshold 20%");
  CHECK(r.code == 1);
  CHECK_THAT(r.out, Catch::Contains("status ok -> failed"));
}

TEST_CASE("changed suites are not comparable, missing cases are listed, bad input exits 2") {
  Flow f;
  write_file(f.suite, ci_suite_json("edited description"));  // new suite_file_hash
  REQUIRE(run_attnbench(f.run_args(), slow_env(20)).code == 0);  // run 3
  CmdResult r = f.compare("1 3");
  INFO(r.out << r.err);
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("2 not comparable") && Catch::Contains("fingerprint differs in suite_file_hash"));
  CHECK(f.compare("1 3 --strict").code == 1);

  write_file(f.suite, ci_suite_json());
  REQUIRE(run_attnbench(f.run_args("--filter 'lk=32'"), slow_env(20)).code == 0);  // run 4
  r = f.compare("1 4 --threshold 20%");
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("1 only in base") && Catch::Contains("missing from the candidate run"));

  CHECK(f.compare("1 99").code == 2);
  CHECK_THAT(f.compare("1 99").err, Catch::Contains("run 99 not found"));
  CHECK(f.compare("1 2 --threshold abc").code == 2);
  CHECK(f.compare("1").code == 2);
  write_file(f.t / "junk.db", "definitely not sqlite, but long enough to have a header......................");
  const CmdResult bad = run_attnbench("compare --db " + f.t / "junk.db 1 2");
  CHECK(bad.code == 2);
  CHECK(line_count(bad.err) == 1);
  // Two databases: the candidate from another file (e.g. another machine), after a merge.
  REQUIRE(run_attnbench("merge " + f.t / "copy.db " + f.db).code == 0);
  CHECK(run_attnbench("compare --db " + f.db + " 1 2 --threshold 20% --db-cand " + f.t / "copy.db").code == 0);
}

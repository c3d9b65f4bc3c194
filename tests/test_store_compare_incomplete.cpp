// `compare BASE CAND` refuses a run that never finished (its missing cases would show up
// as "only in" the other run) unless --allow-incomplete says that is intended.
#include <catch2/catch.hpp>

#include "cli_harness.h"
#include "results_store.h"

using namespace attnbench;
using namespace attnbench::test;

namespace {

/// Provenance of a test run (built in one place: GCC 12 warns, wrongly, about
/// strings assigned member by member into a local RunRecord).
store::RunRecord a_run(const std::string& command_line) {
  store::RunRecord r;
  r.command_line = command_line;
  r.selection = "{}";
  return r;
}

store::CaseRecord timed_case(const std::string& key) {
  store::CaseRecord c;
  c.case_key = key;
  c.suite = "s";
  c.suite_file_hash = "h";
  c.phase = "prefill";
  c.backend = "cpu";
  c.device = "host";
  c.variant = "flash";
  c.config = "flash";
  c.dtype = "fp32";
  c.shape = "b=1";
  c.samples = {{0, 1, 1e-3}, {1, 1, 1.1e-3}, {2, 1, 0.9e-3}, {3, 1, 1e-3}};
  c.metrics = {{"rel_error", 1e-7, "ratio"}};
  return c;
}

/// Run 1 complete with cases a and b; run 2 interrupted after a.
void make_db(const std::string& path) {
  store::ResultsStore db(path);
  const store::RunRecord run = a_run("attnbench run");
  const int64_t base = db.begin_run(run);
  db.add_case(base, timed_case("a"));
  db.add_case(base, timed_case("b"));
  db.finish_run(base, "complete");
  const int64_t cand = db.begin_run(run);
  db.add_case(cand, timed_case("a"));
}

void expect_incomplete(const CmdResult& r, const std::string& what) {
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.code == 2);
  CHECK(line_count(r.err) == 1);
  CHECK_THAT(r.err, Catch::StartsWith("attnbench: error:") && Catch::Contains(what) &&
                        Catch::Contains("is incomplete (1 cases stored)") && Catch::Contains("--resume 2") &&
                        Catch::Contains("--allow-incomplete"));
  CHECK(r.out.empty());
}

}  // namespace

TEST_CASE("compare refuses an incomplete run as base or candidate") {
  TempDir t;
  const std::string db = t / "r.db";
  make_db(db);
  const std::string before = read_file(db);
  expect_incomplete(run_attnbench("compare --db " + db + " 1 2"), "candidate run 2");
  expect_incomplete(run_attnbench("compare --db " + db + " 2 1 --format md"), "base run 2");
  CHECK(read_file(db) == before);
}

TEST_CASE("compare --allow-incomplete compares the cases an incomplete run has") {
  TempDir t;
  const std::string db = t / "r.db";
  make_db(db);
  const CmdResult r = run_attnbench("compare --db " + db + " 1 2 --allow-incomplete");
  INFO(r.out << r.err);
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("2 cases") && Catch::Contains("1 only in base"));
  // --strict still fails on the case the candidate never stored.
  CHECK(run_attnbench("compare --db " + db + " 1 2 --allow-incomplete --strict").code == 1);
}

TEST_CASE("complete runs compare as before") {
  TempDir t;
  const std::string db = t / "r.db";
  make_db(db);
  const CmdResult r = run_attnbench("compare --db " + db + " 1 1");
  INFO(r.out << r.err);
  CHECK(r.code == 0);
}

// `attnbench list runs`: one line per run with case counts, read-only; an empty database
// says so and exits 0; a missing file is an error.
#include <catch2/catch.hpp>

#include "cli_harness.h"
#include "results_store.h"

using namespace attnbench;
using namespace attnbench::test;

namespace {

store::CaseRecord stored_case(const std::string& key, const std::string& status) {
  store::CaseRecord c;
  c.case_key = key;
  c.suite = "s"; c.phase = "prefill"; c.backend = "cpu"; c.device = "cpu0"; c.variant = "flash";
  c.config = "flash"; c.dtype = "f32"; c.shape = key;
  c.status = status;
  return c;
}

}  // namespace

TEST_CASE("list runs: one line per run with start time, short sha, status and case counts; read-only") {
  TempDir t;
  const std::string db = t / "r.db";
  {
    store::ResultsStore w(db);
    store::RunRecord run;
    run.started_at = "2024-05-01T10:00:00Z";
    run.git_sha = "0123456789abcdef0123456789abcdef01234567-dirty";
    run.selection = "{}";
    const int64_t id = w.begin_run(run);
    const char* statuses[] = {"ok", "ok", "failed", "crashed", "timeout", "error", "unsupported", "no_device", "oom"};
    for (int i = 0; i < 9; ++i) w.add_case(id, stored_case("k" + std::to_string(i), statuses[i]));
    w.finish_run(id, "failed");
    run.started_at = "2024-05-02T11:00:00Z";
    run.git_sha = "fedcba9876";
    w.begin_run(run);  // stays incomplete, no cases
  }
  const std::string before = read_file(db);
  const CmdResult r = run_attnbench("list runs --db " + db);
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(line_count(r.out) == 2);
  const std::string first = r.out.substr(0, r.out.find('\n'));
  CHECK_THAT(first, Catch::StartsWith("run 1 ") && Catch::Contains("2024-05-01T10:00:00Z") &&
                        Catch::Contains("git 0123456789-dirty ") && Catch::Contains(" failed ") &&
                        Catch::Contains("9 cases: 2 ok, 4 failed, 3 other"));
  CHECK_THAT(r.out.substr(first.size() + 1), Catch::StartsWith("run 2 ") && Catch::Contains("git fedcba9876 ") &&
                                                 Catch::Contains("incomplete") &&
                                                 Catch::Contains("0 cases: 0 ok, 0 failed, 0 other"));
  CHECK(read_file(db) == before);
  for (const char* side : {"-wal", "-shm", "-journal"}) CHECK_FALSE(std::filesystem::exists(db + side));
}

TEST_CASE("list runs shows a real run as the run command stored it") {
  TempDir t;
  write_file(t / "tiny.json", tiny_suite_json());
  const std::string db = t / "r.db";
  const CmdResult run = run_attnbench("run --suite " + t / "tiny.json --backend cpu --no-peaks --db " + db);
  INFO(run.err);
  REQUIRE(run.code == 0);
  const CmdResult r = run_attnbench("list runs --db " + db);
  REQUIRE(r.code == 0);
  CHECK(line_count(r.out) == 1);
  CHECK_THAT(r.out, Catch::Contains("complete") && Catch::Contains("4 cases: 4 ok, 0 failed, 0 other") &&
                        Catch::Contains(query_one(db, "SELECT started_at FROM runs")));
}

TEST_CASE("list runs: a database without runs says so (exit 0); a missing file is an error (exit 2)") {
  TempDir t;
  const std::string db = t / "empty.db";
  { store::ResultsStore w(db); }
  const CmdResult empty = run_attnbench("list runs --db " + db);
  INFO(empty.err);
  CHECK(empty.code == 0);
  CHECK(line_count(empty.out) == 1);
  CHECK_THAT(empty.out, Catch::Contains("no runs"));

  const CmdResult missing = run_attnbench("list runs --db " + t / "missing.db");
  CHECK(missing.code == 2);
  CHECK(line_count(missing.err) == 1);
  CHECK_THAT(missing.err, Catch::Contains("missing.db"));
  CHECK(missing.out.empty());
  CHECK_FALSE(std::filesystem::exists(t / "missing.db"));
}

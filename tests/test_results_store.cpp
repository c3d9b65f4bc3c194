// The store: schema version, one transaction per case, refusal of foreign files.
#include <catch2/catch.hpp>

#include "cli_harness.h"
#include "results_store.h"
#include "store_schema.h"

using namespace attnbench;
using namespace attnbench::test;

namespace {

store::CaseRecord sample_case(const std::string& key) {
  store::CaseRecord c;
  c.case_key = key;
  c.suite = "s";
  c.suite_file_hash = "h";
  c.phase = "prefill";
  c.backend = "cpu";
  c.device = "dev";
  c.variant = "flash";
  c.config = "flash:causal";
  c.dtype = "fp32";
  c.shape = "b=1";
  c.samples = {{0, 3, 0.5}, {1, 3, 0.25}};
  c.metrics = {{"time_median", 0.375, "s"}};
  return c;
}

}  // namespace

TEST_CASE("runs and cases round-trip, with samples and metrics") {
  TempDir t;
  store::ResultsStore db(t / "r.db");
  store::RunRecord run;
  run.command_line = "attnbench run '<x>'";
  run.seed = 42;
  run.selection = "{}";
  const int64_t id = db.begin_run(run);
  db.add_case(id, sample_case("k1"));
  db.add_peak(id, "cpu", "dev", "flops_f32", 1e12, "FLOP/s");
  CHECK(db.case_keys(id) == std::set<std::string>{"k1"});
  CHECK(db.peak(id, "cpu", "flops_f32") == 1e12);
  CHECK(db.load_run(id)->status == "incomplete");
  db.finish_run(id, "complete");
  const auto loaded = db.load_run(std::nullopt);
  REQUIRE(loaded);
  CHECK(loaded->status == "complete");
  CHECK(loaded->command_line == "attnbench run '<x>'");
  CHECK(query_one(t / "r.db", "SELECT count(*) FROM samples") == "2");
}

TEST_CASE("a case is stored whole or not at all") {
  TempDir t;
  store::ResultsStore db(t / "r.db");
  const int64_t id = db.begin_run({});
  db.add_case(id, sample_case("k1"));
  // Same key again violates UNIQUE(run_id, case_key) after nothing else was written.
  store::CaseRecord dup = sample_case("k1");
  CHECK_THROWS_AS(db.add_case(id, dup), store::StoreError);
  // A duplicate sample repetition fails inside the transaction: the case row must roll back too.
  store::CaseRecord broken = sample_case("k2");
  broken.samples.push_back({0, 1, 9.0});
  CHECK_THROWS_AS(db.add_case(id, broken), store::StoreError);
  CHECK(db.case_keys(id) == std::set<std::string>{"k1"});
  CHECK(query_one(t / "r.db", "SELECT count(*) FROM samples") == "2");
}

TEST_CASE("newer schemas and non-attnbench files are refused") {
  TempDir t;
  {
    store::ResultsStore db(t / "r.db");
  }
  sqlite3* h = nullptr;
  sqlite3_open((t / "r.db").c_str(), &h);
  sqlite3_exec(h, "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
  sqlite3_close(h);
  CHECK_THROWS_WITH(store::ResultsStore(t / "r.db"), Catch::Contains("schema version 99"));
  CHECK_THROWS_WITH(store::ResultsStore(t / "missing.db", true), Catch::Contains("cannot open database"));
  write_file(t / "text.db", std::string(2048, 'x'));
  CHECK_THROWS_WITH(store::ResultsStore(t / "text.db"), Catch::Contains("not a readable SQLite file"));
  CHECK(read_file(t / "text.db") == std::string(2048, 'x'));
}

TEST_CASE("a version-1 database migrates forward and keeps its cases") {
  TempDir t;
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open((t / "old.db").c_str(), &h) == SQLITE_OK);
  REQUIRE(sqlite3_exec(h, std::string(store::kMigrations[0]).c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_exec(h,
               "PRAGMA user_version = 1;"
               "INSERT INTO runs (id, started_at, status, command_line, seed, quick, selection)"
               " VALUES (1, '2026-01-01', 'complete', 'x', 1, 0, '{}');"
               "INSERT INTO cases (run_id, case_key, suite, suite_file_hash, phase, backend, device, variant, config,"
               " dtype, shape, status) VALUES (1, 'k', 's', 'h', 'prefill', 'cpu', 'host', 'flash', 'flash', 'fp32',"
               " 'b=1', 'ok')",
               nullptr, nullptr, nullptr);
  sqlite3_close(h);
  { store::ResultsStore db(t / "old.db"); }
  CHECK(query_one(t / "old.db", "PRAGMA user_version") == std::to_string(store::kMigrations.size()));
  CHECK(query_one(t / "old.db", "SELECT case_key || '/' || group_name || '/' || coalesce(target, 'none') FROM cases") ==
        "k//none");
}

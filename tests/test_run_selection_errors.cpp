// Selections that used to look like success: duplicate cases, globs, filters and
// shards that match nothing, out-of-range --seed and --shard, a catastrophic regex,
// and a case too big for memory. Each is refused (exit 2, one line, no database
// created or changed) or, for the memory case, stored as `oom` without allocating.
#include <catch2/catch.hpp>

#include <chrono>

#include "case_memory.h"
#include "cli_harness.h"

using namespace attnbench::test;

namespace {

void expect_refused(const CmdResult& r, const std::string& needle) {
  INFO("stderr: " << r.err);
  CHECK(r.code == 2);
  CHECK(line_count(r.err) == 1);
  CHECK_THAT(r.err, Catch::StartsWith("attnbench: error:") && Catch::Contains(needle));
}

}  // namespace

TEST_CASE("a case planned twice is refused before the database is opened") {
  TempDir t;
  const std::string db = t / "r.db";
  expect_refused(run_attnbench("run --suite correctness,correctness --quick --db " + db), "suite 'correctness' is selected twice");
  // Two groups expanding to one case.
  write_file(t / "dup.json", R"({"suite": "dup", "defaults": {"phase": "prefill", "repetitions": 1, "min_time": 0},
    "groups": [{"name": "a", "variants": ["flash"], "axes": {"len": [64, 128]}},
               {"name": "b", "variants": ["flash"], "axes": {"len": [128]}}]})");
  expect_refused(run_attnbench("run --suite " + t / "dup.json --backend cpu --db " + db),
                 "is planned twice (suite 'dup' group 'a', and suite 'dup' group 'b')");
  CHECK_FALSE(std::filesystem::exists(db));
}

TEST_CASE("a selection that matches nothing is an error that names what matched nothing") {
  TempDir t;
  const std::string db = t / "r.db";
  write_file(t / "tiny.json", tiny_suite_json());
  REQUIRE(run_attnbench("run --suite " + t / "tiny.json --no-peaks --db " + db).code == 0);
  const std::string runs_before = query_one(db, "SELECT count(*) FROM runs");
  const std::string quick = "run --suite correctness --quick --backend cpu --no-peaks --db " + db;
  expect_refused(run_attnbench(quick + " --filter zzzz"), "--filter 'zzzz' matches none of the");
  expect_refused(run_attnbench(quick + " --variant 'flash:bogus=1'"), "--variant 'flash:bogus=1' matches no case");
  expect_refused(run_attnbench("run --suite recall --quick --no-peaks --method 'snapkv:bogus=3' --db " + db),
                 "--method 'snapkv:bogus=3' matches no case");
  expect_refused(run_attnbench("run --suite " + t / "tiny.json --no-peaks --shard 5/5 --db " + db),
                 "shard 5/5 is empty: the selection has only 4 cases");
  CHECK(query_one(db, "SELECT count(*) FROM runs") == runs_before);  // no empty run was stored
}

TEST_CASE("--seed and --shard accept exactly their documented forms") {
  TempDir t;
  const std::string db = t / "r.db";
  const std::string run = "run --suite correctness --quick --db " + db;
  for (const char* seed : {"-1", "18446744073709551616", "9223372036854775808", "1x", "0x10", ""})
    expect_refused(run_attnbench(run + " --seed '" + seed + "'"), "--seed");
  for (const char* shard : {"1/4x", "2/4/8", "0/4", "5/4", "1/0", "/4", "1/", "-1/4", " 1/4"})
    expect_refused(run_attnbench(run + " --shard '" + shard + "'"), "invalid --shard");
  CHECK_FALSE(std::filesystem::exists(db));
  // The largest seed the store can hold is accepted and stored as given.
  write_file(t / "tiny.json", tiny_suite_json());
  REQUIRE(run_attnbench("run --suite " + t / "tiny.json --no-peaks --seed 9223372036854775807 --db " + db).code == 0);
  CHECK(query_one(db, "SELECT seed FROM runs") == "9223372036854775807");
}

TEST_CASE("--filter matches in linear time (RE2), so a catastrophic pattern cannot hang planning") {
  TempDir t;
  const auto t0 = std::chrono::steady_clock::now();
  const CmdResult r = run_attnbench("run --suite correctness,long-context,recall --filter '(.*.*)*x$' --db " + t / "r.db");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  expect_refused(r, "--filter '(.*.*)*x$' matches none of the");
  CHECK(seconds < 20);  // std::regex took longer than 30 s on this pattern
  // RE2 syntax errors are refused with RE2's reason.
  expect_refused(run_attnbench("run --suite correctness --filter 'a(?<!b)' --db " + t / "r.db"), "invalid --filter regex");
}

TEST_CASE("a case larger than available memory is stored as oom before anything is allocated") {
  // 16 x 8 heads x 131071 keys x d=128: just under 2^31 elements (the largest tensor a
  // suite may ask for), 8 GiB each of fp32 K and V; with the host copies, staging and
  // the CPU backend's buffers (host memory too) about 40 GiB.
  const auto avail = attnbench::host_memory_available();
  REQUIRE(avail);
  if (*avail > 36.0 * (1ull << 30)) {
    WARN("this machine has " << *avail / (1ull << 30) << " GiB available: the oom case would fit, not checked");
    return;
  }
  TempDir t;
  const std::string db = t / "r.db";
  write_file(t / "huge.json", R"({"suite": "huge", "defaults": {"phase": "decode", "repetitions": 1, "min_time": 0},
    "groups": [{"name": "g", "variants": ["decode"], "axes": {"batch": 16, "heads_q": 8, "heads_kv": 8,
                "len_q": 1, "len_k": [64, 131071], "head_dim": 128}}]})");
  const CmdResult r = run_attnbench("run --suite " + t / "huge.json --backend cpu --no-peaks --db " + db);
  INFO(r.out << r.err);
  CHECK(r.code == 0);  // oom is a declared outcome, not a failure
  CHECK(query_one(db, "SELECT status FROM cases WHERE len_k = 131071") == "oom");
  CHECK_THAT(query_one(db, "SELECT message FROM cases WHERE len_k = 131071"),
             Catch::Contains("MemAvailable") && Catch::Contains("GiB"));
  CHECK(query_one(db, "SELECT status FROM cases WHERE len_k = 64") == "ok");
}

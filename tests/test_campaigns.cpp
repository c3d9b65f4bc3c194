// Campaigns: shards of one suite share a name and read as one result in list runs,
// export and compare; a plain run is its own campaign "run-<id>"; names that would read
// as run ids are refused; an A/B run stores its two sides as one campaign.
#include <catch2/catch.hpp>

#include "cli_harness.h"

using namespace attnbench::test;

TEST_CASE("shards of one campaign read as one result") {
  TempDir t;
  write_file(t / "tiny.json", tiny_suite_json());
  const std::string db = t / "r.db", suite = "run --suite " + t / "tiny.json --backend cpu --no-peaks --db " + db;
  for (const char* shard : {"1/2", "2/2"})
    REQUIRE(run_attnbench(suite + " --campaign nightly --shard " + shard).code == 0);
  REQUIRE(run_attnbench(suite).code == 0);  // run 3: a whole run on its own
  CHECK(query_one(db, "SELECT group_concat(campaign, ',') FROM (SELECT campaign FROM runs ORDER BY id)") == "nightly,nightly,");
  const CmdResult list = run_attnbench("list runs --db " + db);
  CHECK_THAT(list.out, Catch::Contains("campaign nightly") && Catch::Contains("campaign run-3"));
  // The campaign holds the same cases as the unsharded run: compare finds all 4 on both sides.
  const CmdResult cmp = run_attnbench("compare --db " + db + " nightly 3 --threshold 1000%");
  INFO(cmp.out << cmp.err);
  CHECK(cmp.code == 0);
  CHECK_THAT(cmp.out, Catch::Contains("4 cases") && Catch::Contains("0 only in base, 0 only in candidate"));
  const CmdResult own = run_attnbench("compare --db " + db + " run-3 nightly --threshold 1000%");
  CHECK(own.code == 0);
  // Export of a campaign carries every shard's cases.
  REQUIRE(run_attnbench("export --db " + db + " --campaign nightly --format csv -o " + t / "c.csv").code == 0);
  CHECK(line_count(read_file(t / "c.csv")) == 5);  // header + 4 cases
  CHECK(run_attnbench("export --db " + db + " --campaign nope --format csv -o " + t / "x.csv").code == 2);
}

TEST_CASE("campaign names that would read as run ids are refused before anything is stored") {
  TempDir t;
  write_file(t / "tiny.json", tiny_suite_json());
  const std::string db = t / "r.db";
  for (const char* bad : {"7", "run-12", ""}) {
    const CmdResult r = run_attnbench("run --suite " + t / "tiny.json --no-peaks --campaign '" + bad + "' --db " + db);
    INFO(bad << ": " << r.err);
    CHECK(r.code == 2);
  }
  CHECK_FALSE(std::filesystem::exists(db));
  const CmdResult unknown = run_attnbench("compare --db " + db + " nightly 1");
  CHECK(unknown.code == 2);
}

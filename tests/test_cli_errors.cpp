// Bad input gets one clear line on stderr, a non-zero exit, and loses nothing stored.
#include <catch2/catch.hpp>

#include "cli_harness.h"

using namespace attnbench::test;

namespace {

/// Asserts a refused command: exit 2, one error line naming the problem.
void expect_refused(const CmdResult& r, const std::string& needle) {
  INFO("stderr: " << r.err);
  CHECK(r.code == 2);
  CHECK(line_count(r.err) <= 2);  // the error, and at most a usage hint
  CHECK_THAT(r.err, Catch::StartsWith("attnbench: error:") && Catch::Contains(needle));
}

}  // namespace

TEST_CASE("unknown names are refused") {
  TempDir t;
  const std::string db = t / "r.db";
  expect_refused(run_attnbench("run --suite nope --db " + db), "unknown suite 'nope'");
  expect_refused(run_attnbench("run --suite correctness --backend warp9 --db " + db), "unknown backend 'warp9'");
  expect_refused(run_attnbench("run --suite correctness --variant 'lightspeed*' --db " + db), "no variant matches 'lightspeed*'");
  expect_refused(run_attnbench("run --suite correctness --filter '([' --db " + db), "invalid --filter regex");
  expect_refused(run_attnbench("run --suite correctness --shard 3/2 --db " + db), "invalid --shard '3/2'");
  expect_refused(run_attnbench("frobnicate"), "frobnicate");
  CHECK_FALSE(std::filesystem::exists(db));  // nothing planned, nothing created
}

TEST_CASE("malformed suite files are refused with the file and field named") {
  TempDir t;
  const std::string db = t / "r.db";
  write_file(t / "bad.json", "{\"suite\": \"bad\", \"groups\": [ {\"name\": ");
  expect_refused(run_attnbench("run --suite " + t / "bad.json --db " + db), "malformed JSON");
  write_file(t / "axis.json", R"({"groups": [{"name": "g", "variants": ["flash"], "axes": {"lenght": [4]}}]})");
  expect_refused(run_attnbench("run --suite " + t / "axis.json --db " + db), "unknown axis 'lenght'");
  write_file(t / "variant.json", R"({"groups": [{"name": "g", "variants": ["flash:sideways"]}]})");
  expect_refused(run_attnbench("run --suite " + t / "variant.json --db " + db), "unknown option 'sideways'");
  write_file(t / "shape.json", R"({"groups": [{"name": "g", "variants": ["flash"], "axes": {"heads_q": 6, "heads_kv": 4}}]})");
  expect_refused(run_attnbench("run --suite " + t / "shape.json --db " + db), "heads_q 6 is not a multiple of heads_kv 4");
  write_file(t / "dim.json", R"({"groups": [{"name": "g", "variants": ["flash"], "axes": {"head_dim": 0}}]})");
  expect_refused(run_attnbench("run --suite " + t / "dim.json --db " + db), "head_dim must be in 1..1024");
  write_file(t / "neg.json", R"({"groups": [{"name": "g", "variants": ["flash"], "axes": {"len": -3}}]})");
  expect_refused(run_attnbench("run --suite " + t / "neg.json --db " + db), "lengths must not be negative");
  CHECK_FALSE(std::filesystem::exists(db));
}

TEST_CASE("unwritable, corrupt and foreign databases are refused and left untouched") {
  TempDir t;
  write_file(t / "tiny.json", tiny_suite_json());
  const std::string suite = "--suite " + t / "tiny.json --no-peaks";
  expect_refused(run_attnbench("run " + suite + " --db /proc/attnbench/nope.db"), "cannot open database");

  std::string garbage(4096, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>((i * 7919) % 251);
  write_file(t / "corrupt.db", garbage);
  expect_refused(run_attnbench("run " + suite + " --db " + t / "corrupt.db"), "corrupt.db");
  CHECK(read_file(t / "corrupt.db") == garbage);
  expect_refused(run_attnbench("report --db " + t / "corrupt.db -o " + t / "r.html"), "corrupt.db");

  sqlite3* h = nullptr;
  sqlite3_open((t / "foreign.db").c_str(), &h);
  sqlite3_exec(h, "CREATE TABLE invoices (id INTEGER); INSERT INTO invoices VALUES (1);", nullptr, nullptr, nullptr);
  sqlite3_close(h);
  expect_refused(run_attnbench("run " + suite + " --db " + t / "foreign.db"), "not an attnbench database");
  CHECK(query_one(t / "foreign.db", "SELECT count(*) FROM invoices") == "1");
}

TEST_CASE("a refused run loses nothing already stored") {
  TempDir t;
  write_file(t / "tiny.json", tiny_suite_json());
  const std::string db = t / "r.db";
  REQUIRE(run_attnbench("run --suite " + t / "tiny.json --no-peaks --db " + db).code == 0);
  const std::string before = query_one(db, "SELECT count(*) || '/' || (SELECT count(*) FROM samples) FROM cases");
  expect_refused(run_attnbench("run --suite nope --db " + db), "unknown suite");
  expect_refused(run_attnbench("run --suite " + t / "tiny.json --backend warp9 --db " + db), "unknown backend");
  expect_refused(run_attnbench("run --resume 999 --db " + db), "run 999 not found");
  CHECK(query_one(db, "SELECT count(*) || '/' || (SELECT count(*) FROM samples) FROM cases") == before);
  CHECK(query_one(db, "PRAGMA integrity_check") == "ok");
}

TEST_CASE("a locked database is reported as locked") {
  TempDir t;
  write_file(t / "tiny.json", tiny_suite_json());
  const std::string db = t / "r.db";
  REQUIRE(run_attnbench("run --suite " + t / "tiny.json --no-peaks --db " + db).code == 0);
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
  // An exclusive transaction blocks every other connection, readers included, even in WAL mode.
  sqlite3_exec(h, "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; UPDATE runs SET seed = seed;", nullptr, nullptr, nullptr);
  expect_refused(run_attnbench("run --suite " + t / "tiny.json --no-peaks --db " + db), "locked");
  sqlite3_exec(h, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(h);
  CHECK(query_one(db, "SELECT count(*) FROM runs") == "1");
}

TEST_CASE("a plugin for another ABI is refused by name while the run goes on") {
  TempDir t;
  write_file(t / "tiny.json", tiny_suite_json());
  const CmdResult r = run_attnbench("run --suite " + t / "tiny.json --no-peaks --backend cpu --db " + t / "r.db",
                                    "ATTNBENCH_PLUGIN_PATH='" ATTNBENCH_TEST_PLUGIN_DIR "'");
  CHECK(r.code == 0);
  CHECK_THAT(r.err, Catch::Contains("refused plugin") && Catch::Contains("wrong-abi") &&
                        Catch::Contains("ABI version 42"));
}

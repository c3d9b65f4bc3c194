// Suite files expand into the cases they describe; the shipped suites are valid.
#include <catch2/catch.hpp>

#include <set>

#include "cli_harness.h"
#include "suite_file.h"

using namespace attnbench;
using attnbench::test::TempDir;
using attnbench::test::write_file;

TEST_CASE("axes expand as a cartesian product and quick narrows them") {
  TempDir t;
  write_file(t / "s.json", R"({"suite": "s", "defaults": {"axes": {"heads_q": 8, "dtype": "bf16"}, "repetitions": 3},
    "groups": [
      {"name": "a", "phase": "prefill", "variants": ["flash", "flash:causal"],
       "axes": {"gqa": [1, 4, "mqa"], "len": [16, 32]}, "quick": {"axes": {"gqa": 4}}},
      {"name": "b", "variants": ["decode"], "axes": {"len_q": 1, "len_k": 64, "page_size": 16}, "quick": false}
    ]})");
  const Suite full = load_suite(t / "s.json", false);
  REQUIRE(full.cases.size() == 2 * 3 * 2 + 1);
  std::set<int> kv;
  for (const auto& c : full.cases) {
    CHECK(c.shape.dtype == AB_BF16);
    if (c.group == "a") {
      kv.insert(c.shape.heads_kv);
      CHECK(c.shape.len_q == c.shape.len_k);
      CHECK(c.repetitions == 3);
      CHECK(c.phase == "prefill");
    } else {
      CHECK(c.shape.page_size == 16);
    }
  }
  CHECK(kv == std::set<int>{8, 2, 1});
  const Suite quick = load_suite(t / "s.json", true);
  CHECK(quick.cases.size() == 2 * 2);
  for (const auto& c : quick.cases) CHECK(c.shape.heads_kv == 2);
  CHECK(full.file_hash == quick.file_hash);
}

TEST_CASE("the shipped suites load, in full and quick, with unique case keys") {
  const std::string dir = default_suites_dir();
  // Every shipped file passes the validation rules (suites/README.md "Validation") in both modes.
  const std::vector<std::string> names = list_suites(dir);
  CHECK(names.size() >= 9);
  for (const std::string& name : names) {
    INFO(name);
    for (bool quick : {false, true}) {
      const Suite s = load_suite(resolve_suite(dir, name), quick);
      CHECK(s.name == name);
      CHECK_FALSE(s.cases.empty());
      std::set<std::string> keys;
      for (auto c : s.cases) {
        c.backend = "cpu";
        keys.insert(c.key());
      }
      CHECK(keys.size() == s.cases.size());
    }
    CHECK(load_suite(resolve_suite(dir, name), true).cases.size() < load_suite(resolve_suite(dir, name), false).cases.size());
  }
}

TEST_CASE("suite errors name the file and the field") {
  TempDir t;
  write_file(t / "e.json", R"({"groups": [{"name": "g", "variants": ["flash"], "check": "roughly"}]})");
  CHECK_THROWS_WITH(load_suite(t / "e.json", false), Catch::Contains("e.json") && Catch::Contains("check 'roughly'"));
  write_file(t / "f.json", R"({"groups": [{"name": "g", "variants": ["flash"], "axes": {"dtype": "fp8"}}]})");
  CHECK_THROWS_WITH(load_suite(t / "f.json", false), Catch::Contains("unknown dtype 'fp8'"));
  write_file(t / "g.json", R"({"groups": [{"name": "g", "variants": ["flash"], "axes": {"gqa": 3, "heads_q": 8}}]})");
  CHECK_THROWS_WITH(load_suite(t / "g.json", false), Catch::Contains("gqa 3 does not divide heads_q 8"));
  write_file(t / "h.json", R"({"groups": [], "extra": 1})");
  CHECK_THROWS_WITH(load_suite(t / "h.json", false), Catch::Contains("unknown field 'extra'"));
  write_file(t / "i.json", R"({"groups": [{"name": "g", "variants": ["flash"], "axes": {"len": "long"}}]})");
  CHECK_THROWS_WITH(load_suite(t / "i.json", false), Catch::Contains("expected an integer"));
  CHECK_THROWS_WITH(resolve_suite(default_suites_dir(), "nope"), Catch::Contains("unknown suite 'nope'") && Catch::Contains("correctness"));
}

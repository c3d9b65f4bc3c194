// Recall budgets given as kvpress users give them, end to end through the CLI and the
// suite path: `run --compression-ratio R` resolves R to a token budget per case
// (round((1 - R) * len_k)) and stores both; out-of-range ratios are refused. And the
// conclusion-stability script (scripts/recall_sensitivity.sh) on a two-point sweep.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <string>

#include "cli_harness.h"

using namespace attnbench::test;

namespace {

/// Number of rows of a counting query.
int count(const std::string& db, const std::string& sql) { return std::atoi(query_one(db, sql).c_str()); }

/// A metric of the case, joined on the case row `c`.
std::string metric(const std::string& name) {
  return "(SELECT value FROM metrics m WHERE m.case_id = c.id AND m.name = '" + name + "')";
}

}  // namespace

TEST_CASE("--compression-ratio sets each case's budget from its length and stores both", "[recall][cli]") {
  TempDir dir;
  const std::string db = dir / "r.db";
  const CmdResult r = run_attnbench("run --suite recall --quick --method snapkv,streaming --compression-ratio 0.75 "
                                    "--budget 64 --filter single_needle --backend cpu --no-peaks --db '" + db + "'");
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  const int kv = count(db, "SELECT count(*) FROM cases WHERE config LIKE 'kv=%'");
  REQUIRE(kv > 0);
  // Every KV case got either the token budget (no requested ratio) or the ratio's budget.
  const int by_ratio = count(db, "SELECT count(*) FROM cases c WHERE config LIKE 'kv=%' AND " +
                                     metric("compression_ratio_requested") + " = 0.75");
  const int by_tokens = count(db, "SELECT count(*) FROM cases c WHERE config LIKE 'kv=%' AND " +
                                      metric("compression_ratio_requested") + " IS NULL AND " +
                                      metric("budget_tokens") + " = 64");
  CHECK(by_ratio > 0);
  CHECK(by_tokens == by_ratio);
  CHECK(by_ratio + by_tokens == kv);
  // The ratio's budget is round(0.25 * len_k), read back from the stored shape.
  const int wrong = count(db,
      "SELECT count(*) FROM cases c WHERE config LIKE 'kv=%' AND " + metric("compression_ratio_requested") +
      " = 0.75 AND " + metric("budget_tokens") + " != round(0.25 * c.len_k)");
  CHECK(wrong == 0);
  CHECK(query_one(db, "SELECT count(DISTINCT c.len_k) FROM cases c WHERE " + metric("compression_ratio_requested") +
                          " = 0.75") != "1");  // several lengths, so several budgets
  CHECK(count(db, "SELECT count(*) FROM cases WHERE status != 'ok'") == 0);
}

TEST_CASE("--compression-ratio outside [0, 1) is one line and exit 2, nothing stored", "[recall][cli]") {
  TempDir dir;
  for (const char* bad : {"1", "-0.1", "1.5"}) {
    const std::string db = dir / (std::string("bad") + bad + ".db");
    const CmdResult r = run_attnbench(std::string("run --suite recall --quick --method snapkv --compression-ratio ") + bad +
                                      " --backend cpu --no-peaks --db '" + db + "'");
    INFO(bad << ": " << r.err);
    CHECK(r.code == 2);
    CHECK(line_count(r.err) == 1);
    CHECK(r.err.find("compression") != std::string::npos);
    CHECK(count(db, "SELECT count(*) FROM cases") == 0);
  }
}

TEST_CASE("recall_sensitivity.sh: a two-point sweep gives the stability and accuracy tables", "[recall][cli]") {
  TempDir dir;
  const std::string cmd = std::string("'" ATTNBENCH_SOURCE_DIR "/scripts/recall_sensitivity.sh' --attnbench '" ATTNBENCH_BIN_DIR
                                      "/attnbench' --out '") + dir / "out" +
                          "' --sweep 'needle_key_norm_ratio:1.0 3.0' --methods full,h2o,l2norm >'" + dir / "log" +
                          "' 2>&1";
  const int status = std::system(cmd.c_str());
  const std::string table = read_file(dir / "out/stability.md");
  INFO(read_file(dir / "log"));
  REQUIRE(status == 0);
  // One row per method pair, one column per swept knob.
  CHECK(table.find("| pair | at defaults | needle_key_norm_ratio |") != std::string::npos);
  for (const char* pair : {"| full vs h2o |", "| full vs l2norm |", "| h2o vs l2norm |"})
    CHECK(table.find(pair) != std::string::npos);
  // Full attention keeps every token, so nothing outranks it at any point.
  const size_t fl = table.find("| full vs l2norm |");
  REQUIRE(fl != std::string::npos);
  CHECK(table.substr(fl, table.find('\n', fl) - fl).find("full > l2norm") != std::string::npos);
  CHECK(table.find("| needle_key_norm_ratio=1.0 |") != std::string::npos);
  CHECK(table.find("| needle_key_norm_ratio=3.0 |") != std::string::npos);
  // A high-norm needle key is what h2o's accumulated attention rewards (notes/issue15.md):
  // its ranking against l2norm changes across this sweep.
  const size_t hl = table.find("| h2o vs l2norm |");
  REQUIRE(hl != std::string::npos);
  CHECK(table.substr(hl, table.find('\n', hl) - hl).find("flips at 3.0") != std::string::npos);
  // Unknown arguments are refused.
  CHECK(std::system(("'" ATTNBENCH_SOURCE_DIR "/scripts/recall_sensitivity.sh' --bogus 2>/dev/null")) != 0);
}

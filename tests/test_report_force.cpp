// `attnbench report` without -o writes report.html in the working directory; it must
// not silently replace one that is there (yesterday's report) unless --force.
#include <catch2/catch.hpp>

#include <optional>  // before test_report_db.h, which uses it
#include <string>

#include "cli_harness.h"
#include "test_report_db.h"

using namespace attnbench::test;

namespace {

/// A database with one run and one timed case, made without running a kernel.
void make_db(const std::string& path) {
  report_test::TestDb db(path);
  int64_t run = db.add_run("2025-01-01T00:00:00Z", "complete");
  report_test::TestDb::Row r;
  r.config = "flash:causal";
  r.len_q = r.len_k = 512;
  r.metrics = {{"time_median", 1e-4}};
  r.samples = {1e-4, 1.1e-4};
  db.add_row(run, r);
}

}  // namespace

TEST_CASE("report refuses to overwrite the default report.html without --force", "[report][cli]") {
  TempDir t;
  make_db(t / "r.db");
  const std::string in_dir = "cd '" + t.path.string() + "' &&";
  write_file(t / "report.html", "yesterday");

  const CmdResult refused = run_attnbench("report --db r.db", in_dir);
  CHECK(refused.code == 2);
  CHECK(line_count(refused.err) == 1);
  CHECK_THAT(refused.err, Catch::Contains("report.html exists") && Catch::Contains("--force"));
  CHECK(read_file(t / "report.html") == "yesterday");

  const CmdResult forced = run_attnbench("report --db r.db --force", in_dir);
  INFO(forced.err);
  CHECK(forced.code == 0);
  CHECK_THAT(read_file(t / "report.html"), Catch::Contains("<section id=\"answers\">"));

  // An explicit -o is the user's choice of file: it is written even when it exists.
  write_file(t / "mine.html", "old");
  const CmdResult explicit_out = run_attnbench("report --db r.db -o mine.html", in_dir);
  CHECK(explicit_out.code == 0);
  CHECK_THAT(read_file(t / "mine.html"), Catch::Contains("<!DOCTYPE html>"));
}

TEST_CASE("report writes the default report.html when none exists", "[report][cli]") {
  TempDir t;
  make_db(t / "r.db");
  const CmdResult r = run_attnbench("report --db r.db", "cd '" + t.path.string() + "' &&");
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK_THAT(read_file(t / "report.html"), Catch::Contains("<!DOCTYPE html>"));
}

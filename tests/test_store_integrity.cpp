// A database with damaged pages (a valid header, so SQLite opens it happily) is refused
// by every command with one line naming the file, and not one byte of it changes.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

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

store::CaseRecord stored_case(int i) {
  store::CaseRecord c;
  c.case_key = "correctness|cpu|flash|case" + std::to_string(i);
  c.suite = "correctness";
  c.suite_file_hash = "0123456789abcdef";
  c.phase = "correctness";
  c.backend = "cpu";
  c.device = "host";
  c.variant = "flash";
  c.config = "flash:causal";
  c.dtype = "fp32";
  c.shape = "b=1,hq=8,hkv=2,lq=" + std::to_string(i) + ",lk=" + std::to_string(i) + ",d=64,fp32";
  c.samples = {{0, 10, 1e-4 * i}, {1, 10, 1.1e-4 * i}};
  c.metrics = {{"rel_error", 1e-8 * i, "ratio"},     {"max_abs_error", 1e-7 * i, ""},
               {"rows_checked", 8.0 * i, "count"},   {"nonfinite_outputs", 0, "count"},
               {"case_wall_time", 0.01 * i, "s"},    {"host_memory_peak_extra", 4096.0 * i, "B"}};
  return c;
}

/// Two finished runs of 150 cases each: about the size of a quick correctness run.
void make_results_db(const std::string& path) {
  store::ResultsStore db(path);
  for (int r = 0; r < 2; ++r) {
    const store::RunRecord run = a_run("attnbench run --suite correctness --quick");
    const int64_t id = db.begin_run(run);
    for (int i = 1; i <= 150; ++i) db.add_case(id, stored_case(i));
    db.finish_run(id, "complete");
  }
}

/// Flips `n` bytes at `offset`: damaged b-tree pages behind an intact header.
void flip_bytes(const std::string& path, std::streamoff offset, size_t n) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  std::string bytes(n, '\0');
  f.seekg(offset);
  f.read(bytes.data(), static_cast<std::streamsize>(n));
  for (char& b : bytes) b = static_cast<char>(~b);
  f.seekp(offset);
  f.write(bytes.data(), static_cast<std::streamsize>(n));
}

void expect_refused(const CmdResult& r, const std::string& file) {
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.code == 2);
  CHECK(line_count(r.err) == 1);
  CHECK_THAT(r.err, Catch::StartsWith("attnbench: error:") && Catch::Contains(file) && Catch::Contains("corrupt"));
}

}  // namespace

TEST_CASE("a database with damaged pages is refused on open, read-only or not") {
  TempDir t;
  const std::string db = t / "results.db";
  make_results_db(db);
  REQUIRE(std::filesystem::file_size(db) > 50400);
  CHECK_NOTHROW(store::ResultsStore(db, true));
  flip_bytes(db, 50000, 400);
  const std::string before = read_file(db);
  CHECK_THROWS_WITH(store::ResultsStore(db), Catch::Contains("'" + db + "' is corrupt") &&
                                                 Catch::Contains("quick_check"));
  CHECK_THROWS_AS(store::ResultsStore(db, true), store::StoreError);
  CHECK(read_file(db) == before);
}

TEST_CASE("every command refuses a corrupt database and leaves it as it was") {
  TempDir t;
  const std::string db = t / "results.db";
  make_results_db(db);
  flip_bytes(db, 50000, 400);
  const std::string before = read_file(db);
  write_file(t / "tiny.json", tiny_suite_json());

  expect_refused(run_attnbench("run --suite " + t / "tiny.json --backend cpu --no-peaks --db " + db), db);
  expect_refused(run_attnbench("report --db " + db + " -o " + t / "r.html"), db);
  CHECK_FALSE(std::filesystem::exists(t / "r.html"));
  expect_refused(run_attnbench("report --db " + db + " --run 1 -o " + t / "r.html --targets-md " + t / "t.md"), db);
  expect_refused(run_attnbench("compare --db " + db + " 1 2"), db);
  expect_refused(run_attnbench("compare --aa 1 --db " + db), db);
  expect_refused(run_attnbench("reproduce 1 --no-peaks --db " + db), db);
  expect_refused(run_attnbench("merge " + t / "out.db " + db), db);
  CHECK_FALSE(std::filesystem::exists(t / "out.db"));
  // As the output of a merge, too: nothing is appended to it.
  make_results_db(t / "good.db");
  expect_refused(run_attnbench("merge " + db + " " + t / "good.db"), db);

  CHECK(read_file(db) == before);
}

TEST_CASE("quick_check runs on every open for writing and on read-only opens up to the size limit") {
  constexpr uintmax_t MiB = uintmax_t{1} << 20;
  CHECK(store::quick_check_on_open(0, false));
  CHECK(store::quick_check_on_open(10 * MiB, true));
  CHECK(store::quick_check_on_open(store::kQuickCheckReadLimitBytes, true));
  CHECK_FALSE(store::quick_check_on_open(store::kQuickCheckReadLimitBytes + 1, true));
  CHECK(store::quick_check_on_open(64 * 1024 * MiB, false));  // a writer never skips it
}

TEST_CASE("quick_check findings come back as one line") {
  CHECK(store::one_line_findings("*** in database main ***\nOn tree page 13 cell 14: out of order\nPage 7 never used", "")
        == "On tree page 13 cell 14: out of order; Page 7 never used");
  CHECK(store::one_line_findings(std::string(400, 'x'), "").size() == 303);
}

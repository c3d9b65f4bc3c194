// `merge`: runs copied with new ids, children remapped, duplicates skipped, the same
// file merged twice changes nothing, corrupt inputs refused with out.db untouched.
#include <catch2/catch.hpp>

#include <filesystem>

#include "cli_harness.h"
#include "db_merge.h"
#include "results_store.h"

using namespace attnbench;
using namespace attnbench::test;

namespace {

store::RunRecord run_record(const std::string& started, const std::string& host, int64_t seed) {
  store::RunRecord r;
  r.started_at = started;
  r.host = host;
  r.seed = seed;
  r.command_line = "attnbench run --suite tiny";
  r.selection = R"({"suites":["tiny"]})";
  r.build_type = "Release";
  return r;
}

store::CaseRecord case_record(const std::string& key, double seconds) {
  store::CaseRecord c;
  c.case_key = key;
  c.suite = "tiny";
  c.suite_file_hash = "h";
  c.phase = "prefill";
  c.backend = "cpu";
  c.device = "host";
  c.variant = "flash";
  c.config = "flash";
  c.dtype = "fp32";
  c.shape = key;
  c.flops = 1e6;  // bytes stays NULL: NULLs must survive the copy
  c.samples = {{0, 10, seconds}, {1, 10, seconds * 1.01}};
  c.metrics = {{"rel_error", 1e-7, "ratio"}, {"time_median", seconds, "s"}};
  return c;
}

/// Makes a database with one run per (started_at, host) and `cases` cases each.
void make_db(const std::string& path, const std::vector<std::pair<std::string, std::string>>& runs, int cases,
             int64_t seed = 1) {
  store::ResultsStore db(path);
  for (const auto& [started, host] : runs) {
    const int64_t id = db.begin_run(run_record(started, host, seed));
    db.add_peak(id, "cpu", "host", "flops_f32", 1e11, "FLOP/s");
    for (int i = 0; i < cases; ++i) db.add_case(id, case_record("case" + std::to_string(i), 1e-3 * (i + 1)));
    db.finish_run(id, "complete");
  }
}

std::string q(const std::string& db, const std::string& sql) { return query_one(db, sql); }

}  // namespace

TEST_CASE("merge copies runs with new ids and remaps cases, samples, metrics and peaks") {
  TempDir t;
  make_db(t / "a.db", {{"2024-01-01T00:00:00Z", "hostA"}, {"2024-01-01T01:00:00Z", "hostA"}}, 3);
  make_db(t / "b.db", {{"2024-01-02T00:00:00Z", "hostB"}}, 2);
  const std::string out = t / "out.db";
  // b first: its run takes id 1, so a's runs 1 and 2 must become 2 and 3.
  store::MergeSummary s = store::merge_databases(out, {t / "b.db", t / "a.db"});
  CHECK(s.runs_copied == 3);
  CHECK(s.cases_copied == 8);
  CHECK(q(out, "SELECT group_concat(host || '@' || id) FROM (SELECT * FROM runs ORDER BY id)") ==
        "hostB@1,hostA@2,hostA@3");
  CHECK(q(out, "SELECT count(*) FROM cases WHERE run_id = 3") == "3");
  CHECK(q(out, "SELECT count(*) FROM samples") == "16");
  CHECK(q(out, "SELECT count(*) FROM metrics") == "16");
  CHECK(q(out, "SELECT count(*) FROM machine_peaks") == "3");
  // Every child row points at a parent in the output, and the values came along.
  CHECK(q(out, "SELECT count(*) FROM samples WHERE case_id NOT IN (SELECT id FROM cases)") == "0");
  CHECK(q(out, "SELECT count(*) FROM metrics WHERE case_id NOT IN (SELECT id FROM cases)") == "0");
  CHECK(q(out, "SELECT count(*) FROM cases WHERE run_id NOT IN (SELECT id FROM runs)") == "0");
  CHECK(q(out, "SELECT printf('%.6g', s.seconds) FROM samples s JOIN cases c ON c.id = s.case_id"
               " WHERE c.run_id = 3 AND c.case_key = 'case2' AND s.repetition = 1") == "0.00303");
  CHECK(q(out, "SELECT count(*) FROM cases WHERE bytes IS NULL AND flops = 1e6") == "8");
  CHECK(q(out, "SELECT status FROM runs WHERE id = 2") == "complete");
  CHECK(q(out, "PRAGMA foreign_key_check") == "");
  CHECK(q(out, "PRAGMA integrity_check") == "ok");
}

TEST_CASE("merging the same file twice is idempotent") {
  TempDir t;
  make_db(t / "a.db", {{"2024-01-01T00:00:00Z", "hostA"}}, 3);
  const std::string out = t / "out.db";
  store::merge_databases(out, {t / "a.db"});
  const std::string before = q(out, "SELECT count(*) || '/' || (SELECT count(*) FROM cases) || '/' ||"
                                    " (SELECT count(*) FROM samples) || '/' || (SELECT count(*) FROM metrics) FROM runs");
  const store::MergeSummary again = store::merge_databases(out, {t / "a.db", t / "a.db"});
  CHECK(again.runs_copied == 0);
  CHECK(again.runs_present == 2);
  CHECK(again.cases_copied == 0);
  CHECK(q(out, "SELECT count(*) || '/' || (SELECT count(*) FROM cases) || '/' || (SELECT count(*) FROM samples)"
               " || '/' || (SELECT count(*) FROM metrics) FROM runs") == before);
  CHECK(before == "1/3/6/6");
  // Merging the output into itself is a no-op too.
  const store::MergeSummary self = store::merge_databases(out, {out});
  CHECK(self.notes.size() == 1);
  CHECK(q(out, "SELECT count(*) FROM runs") == "1");
}

TEST_CASE("a run seen again with more cases gains only the missing ones and its final status") {
  TempDir t;
  const auto rec = run_record("2024-01-01T00:00:00Z", "hostA", 1);
  {
    store::ResultsStore db(t / "partial.db");
    const int64_t id = db.begin_run(rec);  // left incomplete, like a killed shard
    db.add_case(id, case_record("case0", 1e-3));
  }
  {
    store::ResultsStore db(t / "resumed.db");
    const int64_t id = db.begin_run(rec);
    db.add_case(id, case_record("case0", 1e-3));
    db.add_case(id, case_record("case1", 2e-3));
    db.finish_run(id, "complete");
  }
  const std::string out = t / "out.db";
  store::merge_databases(out, {t / "partial.db"});
  CHECK(q(out, "SELECT status FROM runs") == "incomplete");
  const store::MergeSummary s = store::merge_databases(out, {t / "resumed.db"});
  CHECK(s.runs_present == 1);
  CHECK(s.cases_copied == 1);
  CHECK(s.cases_present == 1);
  CHECK(q(out, "SELECT status FROM runs") == "complete");
  CHECK(q(out, "SELECT group_concat(case_key) FROM cases") == "case0,case1");
}

TEST_CASE("two runs of one input with the same identity are both kept") {
  TempDir t;
  make_db(t / "a.db", {{"2024-01-01T00:00:00Z", "hostA"}, {"2024-01-01T00:00:00Z", "hostA"}}, 1);
  const std::string out = t / "out.db";
  CHECK(store::merge_databases(out, {t / "a.db"}).runs_copied == 2);
  CHECK(store::merge_databases(out, {t / "a.db"}).runs_copied == 0);
  CHECK(q(out, "SELECT count(*) FROM runs") == "2");
  // Different seeds are different runs.
  make_db(t / "b.db", {{"2024-01-01T00:00:00Z", "hostA"}}, 1, /*seed=*/2);
  CHECK(store::merge_databases(out, {t / "b.db"}).runs_copied == 1);
}

TEST_CASE("corrupt or foreign inputs are refused with one line and out.db untouched") {
  TempDir t;
  make_db(t / "good.db", {{"2024-01-01T00:00:00Z", "hostA"}}, 2);
  write_file(t / "garbage.db", "this is not a database at all, just text that is long enough");
  const std::string out = t / "out.db";

  CHECK_THROWS_AS(store::merge_databases(out, {t / "good.db", t / "garbage.db"}), store::StoreError);
  CHECK_FALSE(std::filesystem::exists(out));  // validated before the output was even created

  store::merge_databases(out, {t / "good.db"});
  const auto size = std::filesystem::file_size(out);
  const std::string runs = q(out, "SELECT count(*) FROM runs");

  // A valid header with a damaged page: copy the good file and overwrite its second page.
  std::filesystem::copy_file(t / "good.db", t / "damaged.db");
  {
    std::fstream f(t / "damaged.db", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096);  // page 2: the runs table's root page
    const std::string junk(4096, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  const CmdResult r = run_attnbench("merge " + out + " " + t / "damaged.db");
  CHECK(r.code == 2);
  CHECK(line_count(r.err) == 1);
  CHECK_THAT(r.err, Catch::Contains("damaged.db"));

  const CmdResult missing = run_attnbench("merge " + out + " " + t / "nope.db");
  CHECK(missing.code == 2);
  CHECK_THAT(missing.err, Catch::Contains("does not exist"));
  CHECK(std::filesystem::file_size(out) == size);
  CHECK(q(out, "SELECT count(*) FROM runs") == runs);

  const CmdResult ok = run_attnbench("merge " + out + " " + t / "good.db");
  CHECK(ok.code == 0);
  CHECK_THAT(ok.out, Catch::Contains("0 runs copied, 1 already present"));
}

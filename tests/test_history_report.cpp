// `report --history`: a database of 12 CI runs (one of them a two-run campaign)
// with a +30% step in one case; the page marks it and lists it.
#include <optional>

#include "test_report_db.h"

#include "change_points.h"
#include "history_report.h"

using report_test::TestDb;

namespace {

attnbench::reports::ChangeDetector detector() {
  return [](const std::vector<double>& times) {
    std::vector<size_t> at;
    for (const auto& cp : attnbench::history::detect_change_points(times)) at.push_back(cp.index);
    return at;
  };
}

int64_t add_run(TestDb& db, int i, const std::string& sha, const std::string& campaign) {
  return db.insert(
      "INSERT INTO runs (started_at, status, git_sha, command_line, seed, quick, selection, campaign) "
      "VALUES (?,?,?,?,?,?,?,?)",
      {fmt::format("2025-01-{:02d}T00:00:00Z", i + 1), std::string("complete"), sha,
       std::string("attnbench run"), int64_t{1}, int64_t{1}, std::string("{}"), campaign});
}

}  // namespace

TEST_CASE("history: a step in one case is marked, a flat case is not", "[history]") {
  auto dir = report_test::fresh_dir("history", "step");
  const auto db_path = dir / "ci.db";
  {
    TestDb db(db_path);
    db.exec(std::string(attnbench::store::kMigrations[1]));
    db.exec(std::string(attnbench::store::kMigrations[2]));
    db.exec("PRAGMA user_version=3");
    const double noise[] = {0.01, -0.02, 0.015, -0.005, 0.02, -0.01, 0.005, -0.015, 0.0, 0.01, -0.02, 0.012, 0.0};
    for (int i = 0; i < 12; ++i) {
      const std::string sha = fmt::format("c{:02d}f00ddeadbeef", i);
      // Point 5 is a campaign of two runs: the slow case in one, the flat case in the other.
      const std::string campaign = i == 5 ? "ci-<5>" : "";
      const int64_t run = add_run(db, i, sha, campaign);
      const int64_t run_b = i == 5 ? add_run(db, i, sha, campaign) : run;
      TestDb::Row slow;
      slow.config = "naive:<b>";
      slow.len_q = slow.len_k = 1024;
      slow.metrics = {{"time_median", 1e-3 * (i >= 6 ? 1.3 : 1.0) * (1 + noise[i])}, {"rel_error", 1e-6}};
      db.add_row(run, slow);
      TestDb::Row flat;
      flat.config = "tiled";
      flat.len_q = flat.len_k = 1024;
      flat.metrics = {{"time_median", 2e-3 * (1 + noise[i + 1])}, {"recall_accuracy", 1.0}};
      db.add_row(run_b, flat);
    }
  }
  const auto data = attnbench::reports::load_history(db_path.string());
  REQUIRE(data.entries.size() == 12);
  CHECK(data.entries[5].label == "ci-<5>");
  REQUIRE(data.series.size() == 2);
  for (const auto& s : data.series) CHECK(s.values.size() == 12);

  const auto out = dir / "history.html";
  attnbench::reports::write_history_report(db_path.string(), detector(), out.string());
  const std::string html = report_test::slurp(out);
  // Exactly one change point, at the first slow run (entry 6), labelled with its short sha.
  CHECK(report_test::count(html, "<tr class=\"change-point\">") == 1);
  CHECK(html.find("+30% at c06f00d") != std::string::npos);
  CHECK(html.find("guide change-point") != std::string::npos);
  CHECK(html.find("naive:&lt;b&gt;") != std::string::npos);
  CHECK(html.find("naive:<b>") == std::string::npos);
  CHECK(html.find("ci-&lt;5&gt;") != std::string::npos);
  CHECK(html.find("history-quality") != std::string::npos);
  CHECK(html.find("src=\"http") == std::string::npos);
  CHECK(html.find("href=\"http") == std::string::npos);
}

TEST_CASE("history: a missing database is refused", "[history]") {
  CHECK_THROWS_AS(attnbench::reports::load_history("/nonexistent/x.db"), std::runtime_error);
}

// `merge` copies every column of a run, the campaign (schema v3) included: shards of one
// campaign merged from several machines still read as one result.
#include <catch2/catch.hpp>

#include "campaigns.h"
#include "cli_harness.h"
#include "db_merge.h"
#include "results_store.h"

using namespace attnbench;
using namespace attnbench::test;

namespace {

/// One complete run of one case in campaign `campaign`, as a shard machine stores it.
void make_shard(const std::string& path, const std::string& started_at, const std::string& campaign) {
  store::ResultsStore db(path);
  store::RunRecord run;
  run.started_at = started_at;
  run.command_line = "attnbench run --campaign " + campaign;
  run.selection = "{}";
  const int64_t id = db.begin_run(run);
  store::set_campaign(db, id, campaign);
  store::CaseRecord c;
  c.case_key = "k-" + started_at;
  c.suite = c.suite_file_hash = c.phase = c.backend = c.device = c.variant = c.config = c.dtype = c.shape = "x";
  db.add_case(id, c);
  db.finish_run(id, "complete");
}

}  // namespace

TEST_CASE("merge keeps each run's campaign") {
  TempDir t;
  make_shard(t / "a.db", "2026-01-01T00:00:00Z", "nightly");
  make_shard(t / "b.db", "2026-01-01T00:00:01Z", "nightly");
  const store::MergeSummary s = store::merge_databases(t / "all.db", {t / "a.db", t / "b.db"});
  CHECK(s.runs_copied == 2);
  CHECK(query_one(t / "all.db", "SELECT group_concat(campaign, ',') FROM runs") == "nightly,nightly");
}

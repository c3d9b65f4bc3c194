// `report --campaign NAME` renders the runs of a campaign (shards merged from several
// databases, runs that share a name) as one result, and `report --baseline` takes a run
// id or a campaign name on either side, resolved as `compare` resolves them.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "cli_harness.h"
#include "report_page_rows.h"

using namespace attnbench::test;

namespace {

/// The binary and the CPU plugin these tests run; exit 77 (skipped) when they are not built.
void require_built() {
  for (const char* needed : {ATTNBENCH_BIN_DIR "/attnbench", ATTNBENCH_BIN_DIR "/plugins/libattnbench-backend-cpu.so"})
    if (!std::filesystem::exists(needed)) {
      std::fprintf(stderr, "skipped: %s is not built\n", needed);
      std::exit(77);
    }
}

nlohmann::json embedded_data(const std::string& html) {
  const std::string open = "<script type=\"application/json\" id=\"attnbench-data\">";
  size_t a = html.find(open);
  REQUIRE(a != std::string::npos);
  a += open.size();
  const size_t b = html.find("</script>", a);
  REQUIRE(b != std::string::npos);
  return nlohmann::json::parse(html.substr(a, b - a));
}

std::set<std::string> case_keys(const nlohmann::json& data) {
  std::set<std::string> keys;
  // The page leaves the stored key out: it is suite|backend|config|shape.
  for (const auto& c : data.at("cases"))
    keys.insert(c.at("suite").get<std::string>() + "|" + c.at("backend").get<std::string>() + "|" +
                c.at("config").get<std::string>() + "|" + c.at("shape").get<std::string>());
  return keys;
}

/// Case keys of one run, read from the database.
std::set<std::string> stored_keys(const std::string& db, const std::string& run) {
  std::set<std::string> keys;
  const std::string all = query_one(db, "SELECT group_concat(case_key, '\n') FROM cases WHERE run_id = " + run);
  for (size_t at = 0; at < all.size();) {
    const size_t end = std::min(all.find('\n', at), all.size());
    keys.insert(all.substr(at, end - at));
    at = end + 1;
  }
  return keys;
}

}  // namespace

TEST_CASE("report --campaign renders shards merged from two databases as one result") {
  require_built();
  TempDir t;
  write_file(t / "tiny.json", tiny_suite_json());
  const std::string run = "run --suite " + t / "tiny.json --backend cpu --no-peaks";
  REQUIRE(run_attnbench(run + " --campaign nightly --shard 1/2 --db " + t / "s1.db").code == 0);
  REQUIRE(run_attnbench(run + " --campaign nightly --shard 2/2 --db " + t / "s2.db").code == 0);
  const std::string db = t / "all.db";
  REQUIRE(run_attnbench("merge " + db + " " + t / "s1.db " + t / "s2.db").code == 0);
  REQUIRE(run_attnbench(run + " --db " + db).code == 0);  // an unsharded run of the same suite
  const std::string shards = query_one(db, "SELECT group_concat(id, ', ') FROM (SELECT id FROM runs WHERE campaign = 'nightly' ORDER BY id)");
  const std::string whole = query_one(db, "SELECT max(id) FROM runs");
  REQUIRE(shards == "1, 2");
  REQUIRE(whole == "3");
  const std::set<std::string> all_keys = stored_keys(db, whole);
  REQUIRE(all_keys.size() == 4);
  // Each shard alone holds only part of the suite.
  CHECK(stored_keys(db, "1").size() == 2);

  const CmdResult r = run_attnbench("report --db " + db + " --campaign nightly -o " + t / "c.html");
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  const std::string html = read_file(t / "c.html");
  CHECK_THAT(html, Catch::Contains("attnbench report \xE2\x80\x94 campaign nightly (runs 1, 2)"));
  CHECK_THAT(html, Catch::Contains("<dt>Campaign</dt>") && Catch::Contains("2 runs read as one result"));
  const nlohmann::json data = embedded_data(html);
  CHECK(data.at("run").at("campaign") == "nightly");
  CHECK(data.at("run").at("campaign_runs") == nlohmann::json::array({1, 2}));
  CHECK(case_keys(data) == all_keys);  // the cases of both shards, each once

  // --run takes a campaign name too; a plain run is still one run.
  REQUIRE(run_attnbench("report --db " + db + " --run nightly -o " + t / "r.html").code == 0);
  CHECK(case_keys(embedded_data(read_file(t / "r.html"))) == all_keys);
  REQUIRE(run_attnbench("report --db " + db + " --run 1 -o " + t / "one.html").code == 0);
  CHECK(embedded_data(read_file(t / "one.html")).at("cases").size() == 2);

  // A campaign against a run, both ways: every case matched, none only on one side.
  for (const std::string& sides : {std::string("--run 3 --baseline nightly"), std::string("--campaign nightly --baseline 3")}) {
    const CmdResult b = run_attnbench("report --db " + db + " " + sides + " --threshold 1000 -o " + t / "b.html");
    INFO(sides << ": " << b.err);
    REQUIRE(b.code == 0);
    const std::string cmp = read_file(t / "b.html");
    CHECK_THAT(cmp, Catch::Contains("<b>4</b> matched") && Catch::Contains("<b>0</b> only in baseline") &&
                        Catch::Contains("<b>0</b> only in candidate"));
  }
  CHECK_THAT(read_file(t / "b.html"), Catch::Contains("Comparison with baseline run 3"));
  REQUIRE(run_attnbench("report --db " + db + " --run 3 --baseline nightly -o " + t / "b2.html").code == 0);
  CHECK_THAT(read_file(t / "b2.html"), Catch::Contains("Comparison with baseline campaign nightly (runs 1, 2)"));

  // The baseline's name is resolved in --baseline-db: shard 1 alone against the whole campaign.
  const CmdResult other = run_attnbench("report --db " + t / "s1.db --run 1 --baseline nightly --baseline-db " + db +
                                        " -o " + t / "o.html");
  INFO(other.err);
  REQUIRE(other.code == 0);
  CHECK_THAT(read_file(t / "o.html"), Catch::Contains("<b>2</b> matched") && Catch::Contains("<b>2</b> only in baseline"));

  // Unknown names and contradictory options are refused in one line, exit 2.
  const CmdResult unknown = run_attnbench("report --db " + db + " --campaign nope -o " + t / "x.html");
  CHECK(unknown.code == 2);
  CHECK_THAT(unknown.err, Catch::Contains("'nope' is neither a run id nor a campaign"));
  CHECK(line_count(unknown.err) == 1);
  CHECK(run_attnbench("report --db " + db + " --run 3 --baseline nope -o " + t / "x.html").code == 2);
  CHECK(run_attnbench("report --db " + db + " --campaign nightly --run 3 -o " + t / "x.html").code == 2);
  CHECK_FALSE(std::filesystem::exists(t / "x.html"));
}

TEST_CASE("report --campaign: a case stored by two runs of a campaign counts as the later run stored it") {
  require_built();
  TempDir t;
  write_file(t / "tiny.json", tiny_suite_json());
  const std::string db = t / "r.db", run = "run --suite " + t / "tiny.json --backend cpu --no-peaks --db " + db;
  REQUIRE(run_attnbench(run + " --campaign twice").code == 0);
  REQUIRE(run_attnbench(run + " --campaign twice").code == 0);
  const CmdResult r = run_attnbench("report --db " + db + " --campaign twice -o " + t / "c.html");
  INFO(r.err);
  REQUIRE(r.code == 0);
  const nlohmann::json data = embedded_data(read_file(t / "c.html"));
  REQUIRE(data.at("cases").size() == 4);
  const std::string second_run_ids = query_one(db, "SELECT group_concat(id, ',') FROM cases WHERE run_id = 2");
  for (const auto& c : data.at("cases")) {
    INFO(c.at("config") << " " << c.at("shape"));
    CHECK(("," + second_run_ids + ",").find("," + std::to_string(c.at("id").get<int64_t>()) + ",") != std::string::npos);
  }
}

TEST_CASE("report --run repeated: runs on two backends as one result, a backend column per case") {
  require_built();
  if (!std::filesystem::exists(ATTNBENCH_CI_PLUGIN_DIR "/libattnbench-backend-slow.so")) {
    std::fprintf(stderr, "skipped: the test backend 'slow' is not built\n");
    std::exit(77);
  }
  TempDir t;
  write_file(t / "tiny.json", tiny_suite_json());
  const std::string db = t / "r.db", run = "run --suite " + t / "tiny.json --no-peaks --db " + db;
  REQUIRE(run_attnbench(run + " --backend cpu").code == 0);  // run 1
  REQUIRE(run_attnbench(run + " --backend slow", "ATTNBENCH_PLUGIN_PATH='" ATTNBENCH_CI_PLUGIN_DIR "'").code == 0);
  const std::set<std::string> cpu = stored_keys(db, "1"), slow = stored_keys(db, "2");
  REQUIRE(cpu.size() == 4);
  REQUIRE(slow.size() == 4);
  std::set<std::string> both = cpu;
  both.insert(slow.begin(), slow.end());
  REQUIRE(both.size() == 8);  // the backend is part of the case key

  for (const std::string& runs : {std::string("--run 1 --run 2"), std::string("--run 1,2")}) {
    INFO(runs);
    const CmdResult r = run_attnbench("report --db " + db + " " + runs + " -o " + t / "m.html");
    INFO(r.out << r.err);
    REQUIRE(r.code == 0);
    const std::string html = read_file(t / "m.html");
    CHECK_THAT(html, Catch::Contains("2 runs read as one result"));
    const nlohmann::json data = embedded_data(html);
    CHECK(data.at("run").at("campaign_runs") == nlohmann::json::array({1, 2}));
    CHECK(case_keys(data) == both);
    std::set<std::string> backends;
    for (const auto& c : data.at("cases")) backends.insert(c.at("backend").get<std::string>());
    CHECK(backends == std::set<std::string>{"cpu", "slow"});
    // The suite table has a backend column, and its rows (drawn in the page from the
    // JSON, whose cases name both backends) cover every case of both runs.
    CHECK_THAT(html, Catch::Contains("<th>Backend</th>"));
    std::vector<size_t> rows = report_test::case_row_positions(html);
    std::sort(rows.begin(), rows.end());
    CHECK(rows == std::vector<size_t>{0, 1, 2, 3, 4, 5, 6, 7});
  }
  // A run that does not exist among several is refused, nothing written.
  const CmdResult bad = run_attnbench("report --db " + db + " --run 1 --run 9 -o " + t / "x.html");
  CHECK(bad.code == 2);
  CHECK(line_count(bad.err) == 1);
  CHECK_FALSE(std::filesystem::exists(t / "x.html"));
}

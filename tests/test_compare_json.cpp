// `compare --format json`: every compared case with both medians, the ratio, its
// interval and p-value, the verdict, and summary counts; it parses, and the numbers are
// the ones the text verdict used. `compare --format md` shows the medians with units.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <regex>

// The test-only "slow" backend's folder (tests/CMakeLists.txt builds it there).
#ifndef ATTNBENCH_CI_PLUGIN_DIR
#define ATTNBENCH_CI_PLUGIN_DIR ATTNBENCH_BINARY_DIR "/test-plugins-ci"
#endif
#include "ci_flow_helpers.h"
#include "compare_format.h"

using namespace attnbench;
using namespace attnbench::test;
using nlohmann::json;

namespace {

compare::StoredCase make_case(const std::string& key, std::vector<double> seconds, const std::string& status = "ok") {
  compare::StoredCase c;
  c.case_key = key;
  c.suite = "s\"<\\>";
  c.suite_file_hash = "h";
  c.backend = "cpu";
  c.config = "flash";
  c.shape = "x";
  c.status = status;
  c.seconds = std::move(seconds);
  c.metrics["rel_error"] = 1e-7;
  return c;
}

const json* find_case(const json& j, const std::string& key) {
  for (const json& c : j.at("cases"))
    if (c.at("case_key") == key) return &c;
  return nullptr;
}

}  // namespace

TEST_CASE("format_json holds every case with medians, ratio, interval, p-value, verdict and counts") {
  const std::vector<double> t = {1.0, 1.01, 0.99, 1.02, 1.0, 0.98};
  std::vector<double> slow;
  for (double x : t) slow.push_back(x * 1.5);
  compare::StoredRun base, cand;
  base.run.id = 1;
  base.name = "1";
  base.run_ids = {1};
  cand.run.id = 4;
  cand.name = "night\"ly";
  cand.run_ids = {4, 5};
  cand.run.git_sha = "abcdef";
  base.cases = {make_case("k|slow", t), make_case("k|same", t), make_case("k|broken", t), make_case("k|gone", t)};
  cand.cases = {make_case("k|slow", slow), make_case("k|same", t), make_case("k|broken", {}, "failed"),
                make_case("k|new", t)};
  cand.cases[0].metrics["rel_error"] = std::numeric_limits<double>::quiet_NaN();
  const compare::Comparison c = compare::compare_runs(base, cand, {});
  const std::string text = compare::format_json(c);
  INFO(text);
  json j;
  REQUIRE_NOTHROW(j = json::parse(text));
  CHECK(j.at("format") == "attnbench-compare");
  CHECK(j.at("version") == 1);
  CHECK(j.at("base").at("name") == "1");
  CHECK(j.at("base").at("campaign") == false);
  CHECK(j.at("cand").at("name") == "night\"ly");
  CHECK(j.at("cand").at("campaign") == true);
  CHECK(j.at("cand").at("runs") == json::array({4, 5}));
  CHECK(j.at("cand").at("git_sha") == "abcdef");
  CHECK(j.at("options").at("threshold") == Approx(0.05));
  const json& s = j.at("summary");
  CHECK(s.at("cases") == 5);
  CHECK(s.at("regression") == 2);  // slower, ok -> failed
  CHECK(s.at("pass") == 1);
  CHECK(s.at("improvement") == 0);
  CHECK(s.at("only_base") == 1);
  CHECK(s.at("only_cand") == 1);
  CHECK(s.at("not_comparable") == 0);
  CHECK(j.at("has_regression") == true);
  REQUIRE(j.at("cases").size() == 5);

  const json* slowed = find_case(j, "k|slow");
  REQUIRE(slowed);
  CHECK(slowed->at("verdict") == "regression");
  CHECK(slowed->at("suite") == "s\"<\\>");
  const json& time = slowed->at("time");
  CHECK(time.at("unit") == "s");
  CHECK(time.at("n_base") == 6);
  CHECK(time.at("n_cand") == 6);
  CHECK(time.at("median_base").get<double>() == Approx(1.0));
  CHECK(time.at("median_cand").get<double>() == Approx(1.5));
  CHECK(time.at("ratio").get<double>() == Approx(1.5));
  CHECK(time.at("ci").at("lo").get<double>() <= time.at("ci").at("estimate").get<double>());
  CHECK(time.at("ci").at("hi").get<double>() >= time.at("ci").at("estimate").get<double>());
  CHECK(time.at("ci").at("confidence").get<double>() > 0.9);
  CHECK(time.at("p_value").get<double>() < 0.05);
  CHECK(time.at("slower") == true);
  // A NaN metric is null, not an unparsable bare NaN.
  bool saw_nan_metric = false;
  for (const json& q : slowed->at("quality"))
    if (q.at("name") == "rel_error") saw_nan_metric = q.at("cand").is_null() && q.at("worse") == true;
  CHECK(saw_nan_metric);

  const json* same = find_case(j, "k|same");
  REQUIRE(same);
  CHECK(same->at("verdict") == "pass");
  CHECK(same->at("time").at("ratio").get<double>() == Approx(1.0));
  CHECK(same->at("time").at("slower") == false);

  const json* broken = find_case(j, "k|broken");
  REQUIRE(broken);
  CHECK(broken->at("verdict") == "regression");
  CHECK(broken->at("status_cand") == "failed");
  CHECK(broken->at("time").is_null());

  const json* gone = find_case(j, "k|gone");
  REQUIRE(gone);
  CHECK(gone->at("verdict") == "only_base");
  CHECK(gone->at("status_cand").is_null());
  const json* fresh = find_case(j, "k|new");
  REQUIRE(fresh);
  CHECK(fresh->at("verdict") == "only_cand");
  CHECK(fresh->at("status_base").is_null());
}

TEST_CASE("compare --format json and md through the CLI: medians of a slowed candidate") {
  for (const char* needed : {ATTNBENCH_BIN_DIR "/attnbench", ATTNBENCH_CI_PLUGIN_DIR "/libattnbench-backend-slow.so"})
    if (!std::filesystem::exists(needed)) {
      std::fprintf(stderr, "skipped: %s is not built\n", needed);
      std::exit(77);
    }
  TempDir t;
  const std::string db = t / "results.db", suite = t / "ci.json";
  write_file(suite, ci_suite_json());
  const std::string run = "run --suite " + suite + " --backend slow --no-peaks --db " + db;
  REQUIRE(run_attnbench(run, slow_env(20)).code == 0);                           // run 1
  REQUIRE(run_attnbench(run + " --campaign slowed", slow_env(60)).code == 0);    // run 2: 3x the delay

  const CmdResult r = run_attnbench("compare --db " + db + " 1 slowed --format json");
  INFO(r.out << r.err);
  CHECK(r.code == 1);  // a regression
  json j;
  REQUIRE_NOTHROW(j = json::parse(r.out));
  CHECK(j.at("base").at("runs") == json::array({1}));
  CHECK(j.at("cand").at("name") == "slowed");
  CHECK(j.at("cand").at("campaign") == true);
  CHECK(j.at("cand").at("runs") == json::array({2}));
  CHECK(j.at("summary").at("cases") == 2);
  CHECK(j.at("summary").at("regression") == 2);
  CHECK(j.at("has_regression") == true);
  REQUIRE(j.at("cases").size() == 2);
  for (const json& c : j.at("cases")) {
    INFO(c.dump());
    CHECK(c.at("verdict") == "regression");
    const json& time = c.at("time");
    CHECK(time.at("n_base") == 8);
    CHECK(time.at("n_cand") == 8);
    // Each call sleeps 20 ms vs 60 ms: medians in seconds, ratio about 3.
    CHECK(time.at("median_base").get<double>() > 0.015);
    CHECK(time.at("median_cand").get<double>() > 0.045);
    CHECK(time.at("ratio").get<double>() == Approx(time.at("median_cand").get<double>() /
                                                   time.at("median_base").get<double>()));
    CHECK(time.at("ratio").get<double>() > 2);
    CHECK(time.at("p_value").get<double>() < 0.05);
    CHECK(time.at("ci").is_object());
  }

  // -o: the file holds the JSON, stdout the summary line.
  const CmdResult file = run_attnbench("compare --db " + db + " 1 slowed --format json -o " + t / "c.json");
  CHECK(file.code == 1);
  CHECK_THAT(file.out, Catch::Contains("campaign slowed (run 2;") && Catch::Contains("2 regressions"));
  CHECK(json::parse(read_file(t / "c.json")).at("summary").at("regression") == 2);

  // Markdown: both medians with units next to the ratio.
  const CmdResult md = run_attnbench("compare --db " + db + " 1 slowed --format md");
  INFO(md.out);
  CHECK(md.code == 1);
  const std::regex row(R"(\| regression \| `[^`]+` \| [0-9.]+ ms \| [0-9.]+ ms \| x[23]\.[0-9]{3} )");
  CHECK(std::regex_search(md.out, row));

  CHECK(run_attnbench("compare --db " + db + " 1 slowed --format yaml").code == 2);
}

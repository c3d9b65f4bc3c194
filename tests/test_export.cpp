// `attnbench export`: json, csv and gbench of a crafted run (quoting, non-finite numbers,
// bad UTF-8, cases without samples), error exits, and two real runs compared by Google
// Benchmark's own compare.py. Without compare.py or scipy that test cannot run; the
// executable then exits 77 (skipped), but only when every other test passed.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <limits>
#include <set>

#include "cli_harness.h"
#include "results_store.h"

using namespace attnbench;
using namespace attnbench::test;
using nlohmann::json;

namespace {

const char* kMessage = "with, \"quotes\"\nand a newline";
std::string g_skip_reason;  // set when the compare.py test could not run

/// Exits 77 after a run in which nothing failed but the compare.py test was skipped.
struct SkipWhenCompareMissing : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testRunEnded(Catch::TestRunStats const& s) override {
    if (g_skip_reason.empty() || s.totals.assertions.failed > 0 || s.totals.testCases.failed > 0) return;
    std::printf("all other tests passed; skipped: %s\n", g_skip_reason.c_str());
    std::fflush(stdout);
    std::_Exit(77);
  }
};

/// Run 1: an ok case with two samples and NaN/inf metrics, an unsupported one without
/// samples whose message is not UTF-8. Run 2: begun, no cases.
std::string crafted_db(const TempDir& t) {
  const std::string path = t / "crafted.db";
  store::ResultsStore db(path);
  store::RunRecord run;
  run.git_sha = "abc123";
  run.build_type = "Release";
  run.host = "bench-host";
  run.cpu = "Some CPU (8 logical CPUs)";
  run.command_line = "/opt/bin/attnbench run --suite s";
  run.library_versions = R"({"fmt": "9.1"})";
  run.selection = "{}";
  const int64_t id = db.begin_run(run);
  store::CaseRecord ok;
  ok.case_key = "s|cpu|flash|lq=64";
  ok.suite = "s"; ok.phase = "prefill"; ok.backend = "cpu"; ok.device = "cpu0"; ok.variant = "flash";
  ok.config = "flash"; ok.dtype = "f32"; ok.shape = "lq=64"; ok.len_q = 64; ok.len_k = 64; ok.head_dim = 64;
  ok.message = kMessage;
  ok.flops = 1e6;
  ok.bytes = 2e5;
  ok.samples = {{0, 10, 1e-3}, {1, 10, 2e-3}};
  const double inf = std::numeric_limits<double>::infinity();
  ok.metrics = {{"time_median", 1.5e-3, "s"}, {"rel_error", std::nan(""), "ratio"},
                {"predicted_speedup", inf, "ratio"}, {"odd", -inf, ""}};
  db.add_case(id, ok);
  store::CaseRecord skipped = ok;
  skipped.case_key = "s|cpu|flash:causal|lq=64";
  skipped.config = "flash:causal";
  skipped.status = "unsupported";
  skipped.message = "bad \xff byte";
  skipped.flops.reset();
  skipped.samples.clear();
  skipped.metrics.clear();
  db.add_case(id, skipped);
  db.finish_run(id, "complete");
  db.begin_run(run);
  return path;
}

/// Parses RFC 4180 text into rows of fields.
std::vector<std::vector<std::string>> parse_csv(const std::string& s) {
  std::vector<std::vector<std::string>> rows(1, std::vector<std::string>(1));
  bool quoted = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char ch = s[i];
    if (quoted) {
      if (ch == '"' && i + 1 < s.size() && s[i + 1] == '"') rows.back().back() += s[++i];
      else if (ch == '"') quoted = false;
      else rows.back().back() += ch;
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ',') {
      rows.back().emplace_back();
    } else if (ch == '\r' && i + 1 < s.size() && s[i + 1] == '\n') {
      ++i;
      if (i + 1 < s.size()) rows.emplace_back(1);
    } else {
      rows.back().back() += ch;
    }
  }
  return rows;
}

size_t column(const std::vector<std::string>& header, const std::string& name) {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  FAIL("no column " << name);
  return 0;
}

/// A python3 that imports scipy and numpy (Debian's compare.py needs both), or "".
std::string python_with_scipy() {
  for (const char* py : {"python3", "/usr/bin/python3"})
    if (std::system((std::string(py) + " -c 'import scipy, numpy' >/dev/null 2>&1").c_str()) == 0) return py;
  return "";
}

}  // namespace

CATCH_REGISTER_LISTENER(SkipWhenCompareMissing)

TEST_CASE("export json: every case, provenance, non-finite numbers as null with the reason; read-only") {
  TempDir t;
  const std::string db = crafted_db(t);
  const std::string before = read_file(db);
  const CmdResult r = run_attnbench("export --db " + db + " --run 1 --format json -o " + t / "out.json");
  INFO(r.err);
  REQUIRE(r.code == 0);
  const json j = json::parse(read_file(t / "out.json"));
  CHECK(j["format"] == "attnbench-export");
  CHECK(j["run"]["id"] == 1);
  CHECK(j["run"]["git_sha"] == "abc123");
  CHECK(j["run"]["library_versions"]["fmt"] == "9.1");
  REQUIRE(j["cases"].size() == 2);
  const json& ok = j["cases"][0];
  CHECK(ok["case_key"] == "s|cpu|flash|lq=64");
  CHECK(ok["len_q"] == 64);
  CHECK(ok["status"] == "ok");
  CHECK(ok["message"] == kMessage);
  CHECK(ok["flops"] == 1e6);
  REQUIRE(ok["samples"].size() == 2);
  CHECK(ok["samples"][1]["seconds"] == 2e-3);
  CHECK(ok["samples"][1]["iterations"] == 10);
  CHECK(ok["metrics"]["time_median"]["value"] == 1.5e-3);
  CHECK(ok["metrics"]["time_median"]["unit"] == "s");
  CHECK(ok["metrics"]["rel_error"]["value"].is_null());
  CHECK(ok["metrics"]["rel_error"]["value_nonfinite"] == "nan");
  CHECK(ok["metrics"]["predicted_speedup"]["value_nonfinite"] == "inf");
  CHECK(ok["metrics"]["odd"]["value_nonfinite"] == "-inf");
  const json& skipped = j["cases"][1];
  CHECK(skipped["status"] == "unsupported");
  CHECK(skipped["flops"].is_null());
  CHECK_FALSE(skipped.contains("flops_nonfinite"));
  CHECK(skipped["message"] == "bad \xEF\xBF\xBD byte");  // the invalid byte became U+FFFD
  CHECK(skipped["samples"].empty());

  // `-o -` writes the same document to stdout.
  const CmdResult out = run_attnbench("export --db " + db + " --run 1 --format json -o -");
  CHECK(out.code == 0);
  CHECK(json::parse(out.out) == j);
  // Read-only: the file is byte for byte what it was, and no side files appeared.
  CHECK(read_file(db) == before);
  for (const char* side : {"-wal", "-shm", "-journal"}) CHECK_FALSE(std::filesystem::exists(db + side));
}

TEST_CASE("export csv: one row per case, RFC 4180 quoting, empty cells for metrics a case lacks") {
  TempDir t;
  const std::string db = crafted_db(t);
  const CmdResult r = run_attnbench("export --db " + db + " --run 1 --format csv -o " + t / "out.csv");
  INFO(r.err);
  REQUIRE(r.code == 0);
  const std::string text = read_file(t / "out.csv");
  CHECK_THAT(text, Catch::Contains("\"with, \"\"quotes\"\"\nand a newline\""));
  CHECK(text.substr(text.size() - 2) == "\r\n");
  const auto rows = parse_csv(text);
  REQUIRE(rows.size() == 3);
  const auto& h = rows[0];
  CHECK(h[1] == "case_key");
  for (const auto& row : rows) CHECK(row.size() == h.size());
  CHECK(rows[1][column(h, "case_key")] == "s|cpu|flash|lq=64");
  CHECK(rows[1][column(h, "message")] == kMessage);
  CHECK(rows[1][column(h, "repetitions")] == "2");
  CHECK(std::stod(rows[1][column(h, "time_median")]) == 1.5e-3);
  CHECK(rows[1][column(h, "rel_error")] == "nan");
  CHECK(rows[1][column(h, "predicted_speedup")] == "inf");
  CHECK(rows[1][column(h, "recall_accuracy")].empty());
  CHECK(rows[1][column(h, "flops")] == "1000000");
  CHECK(rows[2][column(h, "status")] == "unsupported");
  CHECK(rows[2][column(h, "flops")].empty());
  CHECK(rows[2][column(h, "time_median")].empty());
}

TEST_CASE("export gbench: Google Benchmark's JSON, one iteration entry per case and repetition") {
  TempDir t;
  const std::string db = crafted_db(t);
  const CmdResult r = run_attnbench("export --db " + db + " --run 1 --format gbench -o " + t / "out.json");
  INFO(r.err);
  REQUIRE(r.code == 0);
  const json j = json::parse(read_file(t / "out.json"));
  const json& ctx = j["context"];
  CHECK(ctx["host_name"] == "bench-host");
  CHECK(ctx["executable"] == "/opt/bin/attnbench");
  CHECK(ctx["num_cpus"] == 8);
  CHECK(ctx["caches"].is_array());
  CHECK(ctx["library_build_type"] == "release");
  CHECK(ctx.contains("date"));
  CHECK(ctx.contains("mhz_per_cpu"));
  REQUIRE(ctx["attnbench_cases_without_samples"].size() == 1);
  CHECK(ctx["attnbench_cases_without_samples"][0]["status"] == "unsupported");
  const json& b = j["benchmarks"];
  REQUIRE(b.size() == 2);
  for (int i = 0; i < 2; ++i) {
    CHECK(b[i]["name"] == "s|cpu|flash|lq=64");
    CHECK(b[i]["run_name"] == "s|cpu|flash|lq=64");
    CHECK(b[i]["run_type"] == "iteration");
    CHECK(b[i]["repetitions"] == 2);
    CHECK(b[i]["repetition_index"] == i);
    CHECK(b[i]["threads"] == 1);
    CHECK(b[i]["iterations"] == 10);
    CHECK(b[i]["time_unit"] == "ns");
    CHECK(b[i]["real_time"].get<double>() == Approx(1e6 * (i + 1)));
    CHECK(b[i]["cpu_time"] == b[i]["real_time"]);
  }
}

TEST_CASE("export refuses unknown runs, empty runs, unknown formats and missing files: one line, exit 2") {
  TempDir t;
  const std::string db = crafted_db(t);
  const std::string out = t / "out.json";
  auto refused = [&](const std::string& args, const std::string& says) {
    const CmdResult r = run_attnbench("export --db " + args + " -o " + out);
    INFO(args << "\n" << r.err);
    CHECK(r.code == 2);
    CHECK(line_count(r.err) == 1);
    CHECK_THAT(r.err, Catch::Contains(says));
    CHECK_FALSE(std::filesystem::exists(out));
  };
  refused(db + " --run 9", "run 9 not found");
  refused(db, "run 2");  // the newest run has no cases
  refused(db + " --run 2 --format csv", "no cases");
  refused(db + " --run 1 --format xml", "unknown export format 'xml'");
  refused(t / "missing.db", "missing.db");
  CHECK_FALSE(std::filesystem::exists(t / "missing.db"));
}

TEST_CASE("gbench exports of two runs compare with Google Benchmark's tools/compare.py") {
  const std::string compare_py = "/usr/share/benchmark/compare.py";
  const std::string python = python_with_scipy();
  if (!std::filesystem::exists(compare_py) || python.empty()) {
    g_skip_reason = "needs " + compare_py + " (libbenchmark-tools) and a python3 with scipy and numpy";
    WARN(g_skip_reason);
    return;
  }
  TempDir t;
  write_file(t / "tiny.json", tiny_suite_json());
  const std::string db = t / "r.db";
  for (int i = 0; i < 2; ++i) {
    const CmdResult run = run_attnbench("run --suite " + t / "tiny.json --backend cpu --no-peaks --db " + db);
    INFO(run.err);
    REQUIRE(run.code == 0);
  }
  REQUIRE(run_attnbench("export --db " + db + " --run 1 --format gbench -o " + t / "a.json").code == 0);
  REQUIRE(run_attnbench("export --db " + db + " --format gbench -o " + t / "b.json").code == 0);  // newest
  const json a = json::parse(read_file(t / "a.json"));
  CHECK(json::parse(read_file(t / "b.json"))["context"]["attnbench_run_id"] == 2);
  std::set<std::string> keys;
  for (const auto& b : a["benchmarks"]) keys.insert(b["name"].get<std::string>());
  REQUIRE(keys.size() == 4);
  CHECK(a["benchmarks"].size() == 8);  // 4 cases x 2 repetitions

  const std::string cmd = python + " " + compare_py + " --no-color -d '" + t / "dump.json" + "' benchmarks '" +
                          t / "a.json" + "' '" + t / "b.json" + "' >'" + t / "out" + "' 2>'" + t / "err" + "'";
  const int status = std::system(cmd.c_str());
  const std::string text = read_file(t / "out");
  INFO(text << read_file(t / "err"));
  REQUIRE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  // Every case is named in the report, and compare.py paired each one's repetitions.
  const json dump = json::parse(read_file(t / "dump.json"));
  for (const auto& key : keys) {
    CHECK_THAT(text, Catch::Contains(key));
    bool compared = false;
    for (const auto& d : dump) compared |= d["name"] == key && d["measurements"].size() == 2;
    CHECK(compared);
  }
}

// Reproduction targets: a suite group's "target" is validated against the cases the
// group expands to and stored with each case; the report measures it (speedup, memory
// ratio, metric) next to the published figure and grades it against the stated range.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "report_data.h"
#include "reproduce_targets.h"
#include "results_store.h"
#include "suite_file.h"

using namespace attnbench;
namespace fs = std::filesystem;

namespace {

fs::path write_suite(const std::string& name, const std::string& target_json) {
  const fs::path dir = fs::temp_directory_path() / "attnbench-targets";
  fs::create_directories(dir);
  const fs::path p = dir / (name + ".json");
  std::ofstream(p) << R"({"suite": "t", "defaults": {"axes": {"len": 64, "head_dim": 32}}, "groups": [
    {"name": "g", "variants": ["flash:causal", "power:causal,local=8,block=8"], "target": )"
                   << target_json << "}]}";
  return p;
}

constexpr const char* kGoodTarget =
    R"({"source": "Paper <b>", "claim": "speedup", "published": "3x", "measure": "speedup",
        "variant": "power:block=8,local=8,causal", "baseline": "flash:causal", "expect": [2, 4]})";

store::CaseRecord timed_case(const std::string& config, double seconds, const std::string& target) {
  store::CaseRecord c;
  c.case_key = config;
  c.suite = "t";
  c.suite_file_hash = "0";
  c.phase = "prefill";
  c.backend = "cpu";
  c.device = "host";
  c.variant = config.substr(0, config.find(':'));
  c.config = config;
  c.dtype = "fp32";
  c.shape = "b=1,hq=1,hkv=1,lq=64,lk=64,d=32,fp32";
  c.batch = c.heads_q = c.heads_kv = 1;
  c.len_q = c.len_k = 64;
  c.head_dim = 32;
  c.group = "g";
  c.target = target;
  c.metrics.push_back({"time_median", seconds, "s"});
  return c;
}

}  // namespace

TEST_CASE("a group's target is stored with its cases in canonical form", "[targets]") {
  const Suite s = load_suite(write_suite("good", kGoodTarget).string(), false);
  REQUIRE(s.cases.size() == 2);
  for (const CaseSpec& c : s.cases) {
    CHECK(c.group == "g");
    // Stored as a list; the variant config is canonicalised.
    CHECK(c.target.front() == '[');
    CHECK(c.target.find("\"power:causal,block=8,local=8\"") != std::string::npos);
  }
}

TEST_CASE("malformed targets are refused with the reason", "[targets]") {
  const auto refused = [](const std::string& name, const std::string& target, const std::string& why) {
    INFO(name);
    CHECK_THROWS_WITH(load_suite(write_suite(name, target).string(), false), Catch::Contains(why));
  };
  refused("measure", R"({"source": "a", "claim": "b", "published": "c", "measure": "vibes"})", "must be speedup");
  refused("missing", R"({"source": "a", "claim": "b", "measure": "speedup"})", "string 'published'");
  refused("config",
          R"({"source": "a", "claim": "b", "published": "c", "measure": "speedup", "variant": "hyper:causal",
              "baseline": "flash:causal"})",
          "not a config of this group");
  refused("expect",
          R"({"source": "a", "claim": "b", "published": "c", "measure": "metric", "metric": "m",
              "configs": ["flash:causal"], "expect": [3, 1]})",
          "low <= high");
  refused("field", R"({"source": "a", "claim": "b", "published": "c", "measure": "metric", "colour": 1})",
          "unknown field 'colour'");
}

TEST_CASE("the report measures a speedup target and grades it", "[targets]") {
  const fs::path dir = fs::temp_directory_path() / "attnbench-targets";
  fs::create_directories(dir);
  for (const double variant_seconds : {0.5, 0.1}) {  // 2x (in [2, 4]) and 10x (above it)
    const fs::path db = dir / "speedup.db";
    fs::remove(db);
    const std::string target = load_suite(write_suite("good", kGoodTarget).string(), false).cases[0].target;
    {
      store::ResultsStore st(db.string());
      store::RunRecord run;
      run.started_at = "2026-01-01T00:00:00Z", run.status = "incomplete", run.command_line = "test", run.selection = "{}";
      const int64_t id = st.begin_run(run);
      st.add_case(id, timed_case("flash:causal", 1.0, target));
      st.add_case(id, timed_case("power:causal,block=8,local=8", variant_seconds, target));
      st.finish_run(id, "complete");
    }
    const reports::RunData data = reports::load_run(db.string(), std::nullopt);
    const auto targets = reports::reproduction_targets(data);
    REQUIRE(targets.size() == 1);
    REQUIRE(targets[0].rows.size() == 1);
    CHECK(targets[0].rows[0].value == Approx(1.0 / variant_seconds));
    CHECK(targets[0].verdict() == (variant_seconds == 0.5 ? "reproduced" : "not reproduced"));
    const std::string html = reports::render_targets_section(data);
    CHECK(html.find("Paper &lt;b&gt;") != std::string::npos);  // escaped, never raw
    CHECK(html.find("Paper <b>") == std::string::npos);
    CHECK(reports::render_targets_markdown(data).find(variant_seconds == 0.5 ? "| 2.00x |" : "| 10.00x |") !=
          std::string::npos);
  }
}

TEST_CASE("--targets-md escapes stored target text for Markdown", "[targets]") {
  // Target strings come from suite files: they must not format the notes or split the table.
  reports::RunData data;
  reports::CaseResult c;
  c.suite = "t";
  c.group = "g";
  c.config = "flash";
  c.status = "ok";
  c.target = R"({"source": "Rabe | Staats `x` *y* _z_ [link](javascript:alert(1)) <script>", "claim": "line one
line two", "published": "3x <b>", "measure": "metric", "metric": "recall_accuracy", "configs": ["flash"]})";
  c.target.replace(c.target.find('\n'), 1, "\\n");  // a JSON "\n" escape inside the claim
  c.metrics.push_back({"recall_accuracy", 1.0, "ratio"});
  data.cases.push_back(c);
  const std::string md = reports::render_targets_markdown(data);
  INFO(md);
  CHECK(md.find("Rabe \\| Staats \\`x\\` \\*y\\* \\_z\\_ \\[link\\](javascript:alert(1)) &lt;script&gt;") !=
        std::string::npos);
  CHECK(md.find("line one line two") != std::string::npos);
  CHECK(md.find("3x &lt;b&gt;") != std::string::npos);
  CHECK(md.find('<') == std::string::npos);
  CHECK(std::count(md.begin(), md.end(), '\n') == 3);  // header, separator, one row
  const std::string row = md.substr(md.rfind('\n', md.size() - 2) + 1);
  int pipes = 0;
  for (size_t k = 0; k < row.size(); ++k) pipes += row[k] == '|' && (k == 0 || row[k - 1] != '\\');
  CHECK(pipes == 6);
}

TEST_CASE("memory_ratio counts the eight tensors a backward case moves", "[targets]") {
  reports::RunData data;
  const auto backward_case = [](const std::string& config, double extra) {
    reports::CaseResult c;
    c.suite = "t";
    c.group = "g";
    c.config = config;
    c.backend = "cpu";
    c.status = "ok";
    c.phase = "backward";
    c.dtype = "fp32";
    c.shape = "s";
    c.batch = 1, c.heads_q = 1, c.heads_kv = 1, c.len_q = 1024, c.len_k = 1024, c.head_dim = 128;
    c.target = R"({"source": "a", "claim": "b", "published": "c", "measure": "memory_ratio",
                   "variant": "flash", "baseline": "naive"})";
    c.metrics.push_back({"host_memory_peak_extra", extra, "B"});
    return c;
  };
  // Q, O, dO, dQ and K, V, dK, dV: 8 x 1024 x 128 fp32 = 4 MiB of I/O.
  const double io = 8.0 * 1024 * 128 * 4;
  data.cases.push_back(backward_case("naive", 9 * io));
  data.cases.push_back(backward_case("flash", 0));
  const auto targets = reports::reproduction_targets(data);
  REQUIRE(targets.size() == 1);
  REQUIRE(targets[0].rows.size() == 1);
  CHECK(targets[0].rows[0].value == Approx(10.0));
}

// Recall suites end to end: the suite file parses (full and quick), --method/--budget
// select and override, unknown methods are refused, a failing outcome never passes, and
// a CLI run of a tiny recall suite stores the metrics the needle heatmap is drawn from.
#include <catch2/catch.hpp>

#include <set>

#include "cli_harness.h"
#include "kv_policy.h"
#include "recall_executor.h"
#include "recall_suite.h"
#include "runner.h"
#include "suite_file.h"

using namespace attnbench;
using namespace attnbench::test;

namespace {

const std::string kSuites = ATTNBENCH_SOURCE_DIR "/suites";

/// A recall selection of the shipped suite with only a cpu backend available.
std::vector<CaseSpec> plan(RunSelection sel) {
  if (sel.suites.empty()) sel.suites = {"recall"};
  return plan_cases(sel, kSuites, {"cpu"});
}

/// Two lengths x two depths of single_needle under full, streaming, snapkv and kivi.
std::string tiny_recall_json() {
  return R"({"suite": "tiny-recall", "kind": "recall",
  "defaults": {"repetitions": 2, "min_time": 0, "axes": {"heads_q": 4, "heads_kv": 2, "head_dim": 64, "budget": 128}},
  "groups": [{"name": "needle", "task": "single_needle", "axes": {"len_k": [512, 1024], "depth": [0.2, 1.0]},
              "methods": ["full", "streaming", "snapkv", "kivi:bits=2"]}]})";
}

}  // namespace

TEST_CASE("the recall suite parses, full and quick", "[recall][suite]") {
  const Suite full = load_suite(kSuites + "/recall.json", false);
  const Suite quick = load_suite(kSuites + "/recall.json", true);
  REQUIRE(!quick.cases.empty());
  CHECK(quick.cases.size() < full.cases.size() / 4);
  std::set<std::string> methods, tasks, keys;
  for (const CaseSpec& c : full.cases) {
    REQUIRE(c.recall);
    CHECK(c.phase == "recall");
    keys.insert(c.key());
    if (c.recall->is_variant()) continue;  // attention variants: test_recall_variants.cpp
    CHECK(c.recall->config().starts_with("kv="));
    CHECK((c.recall->budget == 0 || c.recall->budget < c.recall->task.len_k));
    methods.insert(c.recall->method_name());
    tasks.insert(recall::task_name(c.recall->task.task));
  }
  CHECK(keys.size() == full.cases.size());  // case keys are unique within a run
  for (const auto& m : kv::kv_methods()) CHECK(methods.count(m.name));
  CHECK(tasks.size() == 6);
  std::set<std::string> quick_methods;
  for (const CaseSpec& c : quick.cases)
    if (!c.recall->is_variant()) quick_methods.insert(c.recall->method_name());
  // duo: the retrieval-heads group (first heads vs identify=1); cla, tidal: the layers group.
  CHECK(quick_methods == std::set<std::string>{"full", "streaming", "h2o", "snapkv", "random", "kivi", "duo", "cla", "tidal"});
  // MQAR sweeps the pair count past head_dim (Zoology: recall collapses once pairs exceed the state).
  int max_pairs = 0;
  for (const CaseSpec& c : full.cases)
    if (c.recall->task.task == recall::RecallTask::mqar) max_pairs = std::max(max_pairs, c.recall->task.n_pairs);
  CHECK(max_pairs > 64);
}

TEST_CASE("unknown KV methods are refused with a one-line message", "[recall][suite]") {
  RunSelection sel;
  sel.methods = {"snapkv", "nope"};
  CHECK_THROWS_WITH(plan(sel), "unknown KV method 'nope' (see 'attnbench list methods')");
  sel.methods = {"snap*"};
  CHECK_NOTHROW(plan(sel));

  TempDir t;
  write_file(t / "bad.json", R"({"kind": "recall", "groups": [{"name": "g", "task": "single_needle",
    "methods": ["fullkv"]}]})");
  CHECK_THROWS_WITH(load_suite(t / "bad.json", false), Catch::Contains("method 'fullkv'"));
  write_file(t / "bad2.json", R"({"kind": "recall", "groups": [{"name": "g", "task": "needle", "methods": ["full"]}]})");
  CHECK_THROWS_WITH(load_suite(t / "bad2.json", false), Catch::Contains("unknown task 'needle'"));
}

TEST_CASE("--method selects and --budget overrides the budget axis", "[recall][suite]") {
  RunSelection sel;
  sel.quick = true;
  sel.methods = {"snapkv", "h2o"};
  sel.budgets = {256, 1024};
  const auto cases = plan(sel);
  REQUIRE(!cases.empty());
  std::set<int> budgets;
  for (const CaseSpec& c : cases) {
    REQUIRE(c.recall);
    CHECK(c.backend == "cpu");
    const std::string name = c.recall->method_name();
    CHECK((name == "snapkv" || name == "h2o"));
    CHECK(c.recall->method.find("budget=" + std::to_string(c.recall->budget) + ",") != std::string::npos);
    CHECK(c.recall->budget < c.recall->task.len_k);  // 1024 is dropped where it would keep everything
    budgets.insert(c.recall->budget);
  }
  CHECK(budgets == std::set<int>{256, 1024});
  // Budget-derived defaults follow the new budget (h2o's recent window is half of it).
  std::set<std::string> h2o_configs;
  for (const CaseSpec& c : cases)
    if (c.recall->method_name() == "h2o") h2o_configs.insert(c.recall->method);
  CHECK(h2o_configs.size() == 2);

  sel.methods = {"kivi:bits=2"};
  sel.budgets = {};
  for (const CaseSpec& c : plan(sel)) CHECK(c.recall->method.starts_with("kivi:bits=2,"));
  sel.budgets = {0};
  CHECK_THROWS_AS(plan(sel), std::invalid_argument);
  // The selection round-trips through the run record, so --resume plans the same cases.
  sel.budgets = {256};
  const RunSelection back = RunSelection::from_json(sel.to_json());
  CHECK(back.methods == sel.methods);
  CHECK(back.budgets == sel.budgets);
  // KV cases run on every selected backend, like attention cases (a backend without KV
  // primitives stores them unsupported); --method leaves out the variant cases.
  sel.suites = {"recall"};
  sel.backends = {"cuda"};
  const auto on_cuda = plan_cases(sel, kSuites, {"cuda"});
  REQUIRE(!on_cuda.empty());
  for (const CaseSpec& c : on_cuda) {
    CHECK(c.backend == "cuda");
    CHECK_FALSE(c.recall->is_variant());
  }
  // A selection that matches nothing is an error naming the glob, not an empty plan.
  sel.methods = {"kivi:bits=7"};
  CHECK_THROWS_WITH(plan_cases(sel, kSuites, {"cuda"}), Catch::Contains("matches no case"));
}

TEST_CASE("a failing recall outcome never passes", "[recall][executor]") {
  kv::BudgetCheck ok_budget;
  ok_budget.ok = true;
  kv::RecallMetrics m;
  m.ok = true, m.accuracy = 1, m.mass_kept = 1, m.kv_bytes = 10, m.full_bytes = 20, m.compression_ratio = 2;
  CHECK(recall_failure(ok_budget, m).empty());

  kv::BudgetCheck bad = ok_budget;
  bad.ok = false, bad.error = "snapkv keeps 2048 bytes but its budget asks for 1024 (2.000x)";
  CHECK_THAT(recall_failure(bad, m), Catch::Contains("budget check failed") && Catch::Contains("2.000x"));
  kv::RecallMetrics broken = m;
  broken.ok = false, broken.error = "attention weights of row 3 sum to 0.5";
  CHECK_THAT(recall_failure(ok_budget, broken), Catch::Contains("sum to 0.5"));
  broken = m;
  broken.output_error = std::nan("");
  CHECK_THAT(recall_failure(ok_budget, broken), Catch::Contains("NaN"));
}

TEST_CASE("a CLI recall run stores accuracy, bytes and the heatmap columns", "[recall][cli]") {
  TempDir t;
  write_file(t / "tiny-recall.json", tiny_recall_json());
  const std::string db = t / "r.db";
  const CmdResult r = run_attnbench("run --suite " + t / "tiny-recall.json --no-peaks --db " + db);
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("16 cases: 16 ok"));
  CHECK(query_one(db, "SELECT count(*) FROM cases WHERE phase = 'recall' AND backend = 'cpu' AND variant = 'decode'"
                      " AND config LIKE 'kv=%'") == "16");
  // full retrieves every needle.
  CHECK(query_one(db, "SELECT count(*) FROM cases c JOIN metrics m ON m.case_id = c.id AND m.name = 'recall_accuracy'"
                      " WHERE c.config LIKE 'kv=full%' AND m.value = 1") == "4");
  // streaming keeps sinks + the recent window: the needle at 100% depth survives, at 20% it is lost.
  const auto streaming_at = [&](double depth, int len) {
    return query_one(db, "SELECT a.value FROM cases c JOIN metrics a ON a.case_id = c.id AND a.name = 'recall_accuracy'"
                         " JOIN metrics d ON d.case_id = c.id AND d.name = 'needle_depth'"
                         " WHERE c.config LIKE 'kv=streaming%' AND c.len_k = " + std::to_string(len) +
                         " AND abs(d.value - " + std::to_string(depth) + ") < 1e-9");
  };
  for (int len : {512, 1024}) {
    CHECK(streaming_at(1.0, len) == "1.0");
    CHECK(std::stod(streaming_at(0.2, len)) < 0.5);
  }
  for (const char* name : {"recall_accuracy", "attention_mass_kept", "output_error_vs_full", "kv_bytes", "kv_bytes_full",
                           "compression_ratio", "compress_time", "compress_kernel_time", "decode_time", "needle_depth"})
    CHECK(query_one(db, std::string("SELECT count(*) FROM metrics WHERE name = '") + name + "'") == "16");
  CHECK(query_one(db, "SELECT unit FROM metrics WHERE name = 'kv_bytes' LIMIT 1") == "B");
  CHECK(query_one(db, "SELECT unit FROM metrics WHERE name = 'recall_accuracy' LIMIT 1") == "ratio");
  // Every compressed method stores fewer bytes than the full cache; full stores exactly as many.
  CHECK(query_one(db, "SELECT count(*) FROM cases c JOIN metrics k ON k.case_id = c.id AND k.name = 'kv_bytes'"
                      " JOIN metrics f ON f.case_id = c.id AND f.name = 'kv_bytes_full'"
                      " WHERE c.config NOT LIKE 'kv=full%' AND k.value < f.value") == "12");
  CHECK(query_one(db, "SELECT count(*) FROM cases c JOIN metrics k ON k.case_id = c.id AND k.name = 'kv_bytes'"
                      " JOIN metrics f ON f.case_id = c.id AND f.name = 'kv_bytes_full'"
                      " WHERE c.config LIKE 'kv=full%' AND k.value = f.value") == "4");
  CHECK(query_one(db, "SELECT count(*) FROM samples") == "32");  // 2 Google Benchmark repetitions x 16 cases

  // --method and --budget on the command line.
  const std::string db2 = t / "r2.db";
  const CmdResult sel = run_attnbench("run --suite " + t / "tiny-recall.json --no-peaks --method snapkv,streaming"
                                      " --budget 64,256 --db " + db2);
  INFO(sel.err);
  REQUIRE(sel.code == 0);
  CHECK_THAT(sel.out, Catch::Contains("16 cases: 16 ok"));  // 2 methods x 2 budgets x 4 cells
  CHECK(query_one(db2, "SELECT count(*) FROM cases WHERE config LIKE '%budget=64,%'") == "8");
  const CmdResult bad = run_attnbench("run --suite " + t / "tiny-recall.json --method nope --db " + t / "r3.db");
  CHECK(bad.code == 2);
  CHECK_THAT(bad.err, Catch::Contains("unknown KV method 'nope'"));
}

// Attention variants in recall suites: "variants" parse (unknown ones refused), expand
// once per task cell (no budget axis), --variant/--method select their own kind of
// recall case, and a run on the CPU backend scores a needle task: exact flash finds it,
// a window that excludes it loses it, a top-k that covers it keeps it.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "cli_harness.h"
#include "plugin_loader.h"
#include "recall_executor.h"
#include "recall_suite.h"
#include "recall_variant_executor.h"
#include "runner.h"
#include "suite_file.h"

using namespace attnbench;
using namespace attnbench::test;

namespace {

const std::string kSuites = ATTNBENCH_SOURCE_DIR "/suites";

/// A recall suite of one group; `group_extra` is spliced into the group object.
std::string recall_suite_text(const std::string& group_extra,
                              const std::string& axes = R"({"len_k": [512, 1024], "depth": [0.1, 1.0]})") {
  return R"({"suite": "rv", "kind": "recall",
  "defaults": {"repetitions": 2, "min_time": 0, "axes": {"heads_q": 4, "heads_kv": 2, "head_dim": 64}},
  "groups": [{"name": "needle", "task": "single_needle", "axes": )" + axes + ",\n" + group_extra + "}]}";
}

std::vector<CaseSpec> variant_cases(const std::vector<CaseSpec>& cases) {
  std::vector<CaseSpec> out;
  for (const CaseSpec& c : cases)
    if (c.recall && c.recall->is_variant()) out.push_back(c);
  return out;
}

}  // namespace

TEST_CASE("recall groups expand variants once per cell, without the budget axis", "[recall][variants]") {
  TempDir t;
  write_file(t / "s.json", recall_suite_text(R"("methods": ["full", "snapkv"], "variants": ["flash:causal", "topk_decode:k=64,causal"],
    "quick": {"variants": ["flash:causal"], "methods": []})",
                                             R"({"len_k": [512, 1024], "depth": [0.1, 1.0], "budget": [128, 256]})"));
  const Suite full = load_suite(t / "s.json", false);
  // 4 cells x (full + snapkv at 2 budgets + 2 variants).
  REQUIRE(full.cases.size() == 4 * (1 + 2 + 2));
  const auto vars = variant_cases(full.cases);
  REQUIRE(vars.size() == 4 * 2);
  std::set<std::string> keys, configs;
  for (const CaseSpec& c : full.cases) keys.insert(c.key());
  CHECK(keys.size() == full.cases.size());
  for (const CaseSpec& c : vars) {
    CHECK(c.recall->budget == 0);
    CHECK(c.recall->method.empty());
    CHECK(c.config.canonical() == c.recall->variant);  // --variant globs see the config
    configs.insert(c.recall->config());
  }
  // Canonical form: options in a fixed order, whatever order the suite wrote.
  CHECK(configs == std::set<std::string>{"flash:causal", "topk_decode:causal,k=64"});
  // --budget rewrites budgeted KV cases only.
  CHECK(variant_cases(override_budgets(full.cases, {64})).size() == vars.size());

  // The quick block's own list replaces the group's, and may drop every method.
  const Suite quick = load_suite(t / "s.json", true);
  REQUIRE(quick.cases.size() == 4);
  for (const CaseSpec& c : quick.cases) CHECK(c.recall->variant == "flash:causal");
}

TEST_CASE("unknown variants and options are refused with a one-line message", "[recall][variants]") {
  TempDir t;
  write_file(t / "a.json", recall_suite_text(R"("methods": ["full"], "variants": ["flash:causal", "nope:causal"])"));
  CHECK_THROWS_WITH(load_suite(t / "a.json", false),
                    Catch::Contains("group 'needle'") && Catch::Contains("variant 'nope:causal'") &&
                        Catch::Contains("unknown variant 'nope'"));
  write_file(t / "b.json", recall_suite_text(R"("methods": ["full"], "variants": ["topk_decode:kk=3"])"));
  CHECK_THROWS_WITH(load_suite(t / "b.json", false), Catch::Contains("unknown option 'kk=3'"));
  write_file(t / "c.json", recall_suite_text(R"("methods": ["full"], "variants": "flash")"));
  CHECK_THROWS_WITH(load_suite(t / "c.json", false), Catch::Contains("'variants' must be a list"));
  write_file(t / "d.json", recall_suite_text(R"("methods": [], "variants": [])"));
  CHECK_THROWS_WITH(load_suite(t / "d.json", false), Catch::Contains("at least one"));
  write_file(t / "e.json", recall_suite_text(R"("methods": [], "quick": {"variants": ["flash:causal", 3]})"));
  CHECK_THROWS_WITH(load_suite(t / "e.json", true), Catch::Contains("variants must be strings"));
  // Errors surface through planning as for any suite problem.
  RunSelection sel;
  sel.suites = {t / "a.json"};
  CHECK_THROWS_AS(plan_cases(sel, kSuites, {"cpu"}), std::invalid_argument);
}

TEST_CASE("the shipped recall suite runs variants on needle, multi-query and mqar", "[recall][variants]") {
  const Suite full = load_suite(kSuites + "/recall.json", false);
  const Suite quick = load_suite(kSuites + "/recall.json", true);
  std::set<std::string> groups, names, configs, quick_names;
  size_t needle = 0;
  for (const CaseSpec& c : variant_cases(full.cases)) {
    groups.insert(c.group);
    names.insert(c.recall->variant_name());
    configs.insert(c.recall->variant);
    needle += c.group == "needle";
  }
  CHECK(groups == std::set<std::string>{"needle", "multi-query", "mqar"});
  for (const char* v : {"flash", "topk_decode", "sliding_window", "block_topk", "hyper", "hip", "flexprefill", "power",
                        "strided_heads", "linear", "based", "nsa", "star", "landmark", "routing", "sea", "flowformer"})
    CHECK(names.count(v));
  CHECK(needle == 5 * 11 * configs.size());  // 5 lengths x 11 depths, one case per variant config
  for (const CaseSpec& c : variant_cases(quick.cases)) {
    quick_names.insert(c.recall->variant_name());
    CHECK(configs.count(c.recall->variant));  // quick runs a subset of the full configs
  }
  CHECK(quick_names ==
        std::set<std::string>{"flash", "topk_decode", "sliding_window", "linear", "based", "block_topk", "star", "sea"});
}

TEST_CASE("--variant selects recall variant cases and --method the KV ones", "[recall][variants]") {
  RunSelection sel;
  sel.suites = {"recall"};
  sel.quick = true;
  auto count = [&](bool variants) {
    size_t n = 0;
    for (const CaseSpec& c : plan_cases(sel, kSuites, {"cpu", "cuda"}))
      n += c.recall && c.recall->is_variant() == variants;
    return n;
  };
  const size_t all_variants = count(true), all_kv = count(false);
  // Variant cases run on every backend (they need a device); KV cases only on cpu.
  CHECK(all_variants == 2 * variant_cases(load_suite(kSuites + "/recall.json", true).cases).size());
  CHECK(all_kv > 0);
  sel.variants = {"topk*"};
  CHECK(count(false) == 0);
  CHECK(count(true) > 0);
  CHECK(count(true) < all_variants);
  for (const CaseSpec& c : plan_cases(sel, kSuites, {"cpu"})) CHECK(c.recall->variant_name() == "topk_decode");
  sel.variants = {"sliding_window:causal,window=256:0"};  // a full canonical config
  CHECK(count(true) > 0);
  sel.variants = {};
  sel.methods = {"snapkv"};
  CHECK(count(true) == 0);
  CHECK(count(false) > 0);
  sel.variants = {"flash*"};  // both: the union of the two selections
  CHECK(count(true) > 0);
  CHECK(count(false) > 0);
  sel.methods = {};
  sel.variants = {};
  sel.backends = {"cuda"};  // every kind of case runs on the selected backend, KV methods too
  size_t kv_cases = 0, variant_cases = 0;
  for (const CaseSpec& c : plan_cases(sel, kSuites, {"cpu", "cuda"})) {
    CHECK(c.backend == "cuda");
    ++(c.recall->is_variant() ? variant_cases : kv_cases);
  }
  CHECK(kv_cases > 0);
  CHECK(variant_cases > 0);
}

TEST_CASE("questions become one-row sequences over a replicated context", "[recall][variants]") {
  recall::TaskParams p;
  p.task = recall::RecallTask::multi_query;
  p.len_k = 256;
  p.n_needles = 3;
  const recall::RecallCase rc = recall::make_task(p, recall::RecallKnobs{});
  REQUIRE(rc.n_questions == 3);
  const RecallAttention in = recall_attention_inputs(rc);
  CHECK(in.shape.canonical() == "b=3,hq=4,hkv=2,lq=1,lk=256,d=64,fp32");
  const size_t d = 64, kv = rc.k.size();
  for (int b = 0; b < 3; ++b)
    for (int h = 0; h < 4; ++h)  // q_question is [Hq, questions, d]; the call wants [B, Hq, 1, d]
      CHECK(in.host.q[(b * 4 + h) * d + 5] == rc.q_question[(h * 3 + b) * d + 5]);
  REQUIRE(in.host.k.size() == 3 * kv);
  CHECK(std::equal(rc.k.begin(), rc.k.end(), in.host.k.begin() + 2 * kv));
  CHECK(std::equal(rc.v.begin(), rc.v.end(), in.host.v.begin() + kv));
}

TEST_CASE("a variant recall case without a device is stored as no_device", "[recall][variants]") {
  TempDir t;
  write_file(t / "s.json", recall_suite_text(R"("methods": [], "variants": ["flash:causal"])"));
  const CaseSpec spec = load_suite(t / "s.json", false).cases.at(0);
  BackendSlot slot;
  slot.name = "cuda";
  slot.no_device_reason = "backend 'cuda' found no device";
  InputCache inputs;
  const store::CaseRecord rec = execute_case(spec, slot, inputs, 1);
  CHECK(rec.status == "no_device");
  CHECK(rec.message == slot.no_device_reason);
  CHECK(rec.config == "flash:causal");
  CHECK(rec.variant == "flash");
}

TEST_CASE("variants on a CPU needle run: exact finds it, a window loses it, top-k keeps it", "[recall][variants][cpu]") {
  const PluginScan plugins = scan_plugins({ATTNBENCH_BIN_DIR "/plugins"});
  bool cpu = false;
  for (const auto& p : plugins.plugins) cpu |= p->name() == "cpu";
  REQUIRE(cpu);
  TempDir t;
  // The needle sits at 10% depth, far outside a 128-key window at the end of the context.
  write_file(t / "s.json", R"({"suite": "rv", "kind": "recall",
    "defaults": {"repetitions": 2, "min_time": 0, "axes": {"heads_q": 4, "heads_kv": 2, "head_dim": 64}},
    "groups": [{"name": "needle", "task": "single_needle", "axes": {"len_k": 1024, "depth": 0.1},
                "methods": ["full"], "variants": ["flash:causal", "sliding_window:causal,window=128:0",
                "topk_decode:causal,k=32", "based"]}]})");
  RunSelection sel;
  sel.suites = {t / "s.json"};
  sel.backends = {"cpu"};
  RunOptions opts;
  opts.db_path = t / "r.db";
  opts.measure_peaks = false;
  opts.worker_exe = ATTNBENCH_BIN_DIR "/attnbench";  // cases run in workers of the real binary
  const RunSummary s = execute_run(sel, opts, plugins);
  CHECK(s.total == 5);
  CHECK(s.ok == 4);
  CHECK(s.unsupported == 1);  // based is causal only: the plugin's reason is stored
  const std::string db = t / "r.db";
  CHECK_THAT(query_one(db, "SELECT message FROM cases WHERE config = 'based'"), Catch::Contains("causal only"));
  auto metric = [&](const std::string& config, const std::string& name) {
    const std::string v = query_one(db, "SELECT m.value FROM cases c JOIN metrics m ON m.case_id = c.id AND m.name = '" +
                                            name + "' WHERE c.config = '" + config + "'");
    INFO(config << " " << name);
    REQUIRE(!v.empty());
    return std::stod(v);
  };
  CHECK(metric("flash:causal", "recall_accuracy") == 1.0);
  CHECK(metric("flash:causal", "output_error_vs_full") < 1e-5);
  CHECK(metric("flash:causal", "attention_mass_kept") > 0.999);
  CHECK(metric("flash:causal", "attended_fraction") == Approx(1.0));
  const std::string sw = "sliding_window:causal,window=128:0";
  CHECK(metric(sw, "recall_accuracy") < 1.0);
  CHECK(metric(sw, "attention_mass_kept") < 0.5);  // measured against full attention, not the window
  CHECK(metric(sw, "attended_fraction") == Approx(129.0 / 1024));
  CHECK(metric(sw, "output_error_vs_full") > 0.1);
  const std::string topk = "topk_decode:causal,k=32";
  CHECK(metric(topk, "recall_accuracy") == 1.0);
  CHECK(metric(topk, "attention_mass_kept") > 0.9);
  CHECK(metric(topk, "attended_fraction") == Approx(32.0 / 1024));
  CHECK(metric(topk, "needle_depth") == Approx(0.1));
  CHECK(metric(topk, "time_median") > 0);
  CHECK(metric(topk, "case_wall_time") > 0);
  // Stored like KV cases, so reports group variants by config as they group methods.
  CHECK(query_one(db, "SELECT count(*) FROM cases WHERE phase = 'recall' AND backend = 'cpu' AND variant = 'topk_decode'"
                      " AND batch = 1 AND len_q = 1 AND len_k = 1024 AND shape LIKE 'task=single_needle,%'") == "1");
  CHECK(query_one(db, "SELECT count(*) FROM samples s JOIN cases c ON c.id = s.case_id WHERE c.config = '" + topk +
                      "'") == "2");  // the suite's 2 repetitions
}

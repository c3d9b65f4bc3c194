// Multi-layer recall cases: the "layers" axis and judge_layer expand and are checked;
// layer_knobs follows the documented profile; pyramidkv runs its per-layer budget
// schedule (decreasing budgets, mean = the budget) while snapkv keeps one budget; a CLI
// run stores the judged layer's accuracy and the bytes of every layer.
#include <catch2/catch.hpp>

#include "cli_harness.h"
#include "recall_layers.h"
#include "recall_suite.h"
#include "suite_file.h"
#include "test_kv_backend.h"

using namespace attnbench;
using namespace attnbench::test;

namespace {

std::string layered_suite(const std::string& extra = "") {
  return R"({"suite": "lay", "kind": "recall", "defaults": {"repetitions": 1, "axes": {"budget": 128}},
    "groups": [{"name": "n", "task": "single_needle", "axes": {"len_k": [1024], "depth": [0.5], "layers": [1, 4]},
                "methods": ["full", "snapkv", "pyramidkv"])" + extra + "}]}";
}

}  // namespace

TEST_CASE("layer_knobs follows the documented profile", "[recall][layers]") {
  recall::RecallKnobs base;
  const auto one = recall::layer_knobs(base, 0, 1);
  CHECK(one.local_logit == base.local_logit);
  CHECK(one.needle_margin == base.needle_margin);
  const recall::LayerProfile p;
  const auto bottom = recall::layer_knobs(base, 0, 4), top = recall::layer_knobs(base, 3, 4);
  CHECK(bottom.layer == 0);
  CHECK(top.layer == 3);
  CHECK(bottom.sink_logit == Approx(base.sink_logit * p.concentration_bottom));
  CHECK(top.sink_logit == Approx(base.sink_logit * p.concentration_top));
  CHECK(bottom.needle_margin == p.non_retrieval_margin);  // below retrieval_from
  CHECK(top.needle_margin == base.needle_margin);
  CHECK_THROWS_AS(recall::layer_knobs(base, 4, 4), std::invalid_argument);
}

TEST_CASE("the layers axis and judge_layer expand and are checked", "[recall][layers][suite]") {
  const Suite s = parse_suite(layered_suite(), "l.json", false);
  int layered = 0;
  for (const CaseSpec& c : s.cases) {
    if (c.recall->layers == 4) {
      ++layered;
      CHECK(c.recall->shape().find(",layers=4") != std::string::npos);
      CHECK(c.recall->judged_layer() == 3);
    } else {
      CHECK(c.recall->shape().find("layers") == std::string::npos);  // single-layer shapes unchanged
    }
  }
  CHECK(layered == 3);
  const Suite j = parse_suite(layered_suite(R"(, "judge_layer": 0)"), "l.json", false);
  for (const CaseSpec& c : j.cases) CHECK(c.recall->judged_layer() == 0);
  REQUIRE_THROWS_WITH(parse_suite(R"({"suite": "lay", "kind": "recall", "groups": [{"name": "n", "task": "single_needle",
    "axes": {"layers": 2}, "methods": ["full"], "judge_layer": 2}]})", "l.json", false),
                      Catch::Contains("judge_layer 2"));
  REQUIRE_THROWS_WITH(parse_suite(R"({"suite": "lay", "kind": "recall", "groups": [{"name": "n", "task": "single_needle",
    "axes": {"layers": 0}, "methods": ["full"]}]})", "l.json", false),
                      Catch::Contains("layers"));
}

TEST_CASE("pyramidkv runs its per-layer budget schedule; snapkv keeps one budget", "[recall][layers]") {
  kv::KvPrimitives prims(kvtest::cpu().env);
  const int L = 4;
  std::vector<uint64_t> pyramid, snap;
  for (int l = 0; l < L; ++l) {
    recall::TaskParams p;
    p.len_k = 1024;
    recall::RecallKnobs k;
    k.case_hash = 5;
    const auto rc = recall::make_task(p, recall::layer_knobs(k, l, L));
    for (auto [config, out] : {std::pair{"pyramidkv:budget=128", &pyramid}, std::pair{"snapkv:budget=128", &snap}}) {
      const auto policy = kv::make_kv_policy(config);
      kv::DeviceLayer dev = kv::upload_layer(prims, rc, true, l, L);
      const auto run = kv::run_kv_case(kvtest::cpu().env, rc, *policy, dev);
      REQUIRE(run.budget.ok);
      out->push_back(run.metrics.kv_bytes);
    }
  }
  for (int l = 1; l < L; ++l) {
    CHECK(pyramid[l] < pyramid[l - 1]);  // budgets shrink with depth
    CHECK(snap[l] == snap[0]);
  }
  const double mean = (pyramid[0] + pyramid[1] + pyramid[2] + pyramid[3]) / 4.0;
  CHECK(mean == Approx(static_cast<double>(snap[0])).epsilon(0.02));  // same total memory
}

TEST_CASE("a CLI run of a layered suite stores the judged layer and every layer's bytes", "[recall][layers][cli]") {
  TempDir t;
  write_file(t / "lay.json", layered_suite());
  const std::string db = t / "l.db";
  const CmdResult r = run_attnbench("run --suite " + t / "lay.json --no-peaks --db " + db);
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto metric = [&](const std::string& method, const std::string& name, bool layered) {
    return query_one(db, "SELECT m.value FROM cases c JOIN metrics m ON m.case_id = c.id AND m.name = '" + name +
                             "' WHERE c.config LIKE 'kv=" + method + "%' AND c.shape " + (layered ? "" : "NOT ") +
                             "LIKE '%layers=4%'");
  };
  CHECK(std::stod(metric("full", "kv_bytes", true)) == Approx(4 * std::stod(metric("full", "kv_bytes", false))));
  CHECK(metric("full", "recall_accuracy", true) == "1.0");
  CHECK(metric("full", "judged_layer", true) == "3.0");
  CHECK(!metric("full", "calib_entropy_first_layer", true).empty());
  CHECK(std::stod(metric("pyramidkv", "kv_bytes", true)) == Approx(std::stod(metric("snapkv", "kv_bytes", true))).epsilon(0.02));
}

// KV-method plugins: the loader registers good methods behind kv::PluginPolicy and refuses
// broken files (one line each, naming the file), the adapter turns the plugin's statuses
// and error buffers into exceptions, and `attnbench list methods` shows plugged-in
// methods next to the built-ins while naming refused files on stderr.
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>

#include "cli_harness.h"
#include "kv_plan_executor.h"
#include "kv_policy.h"
#include "method_plugin_loader.h"
#include "recall_tasks.h"
#include "test_kv_backend.h"

using namespace attnbench;
using namespace attnbench::test;

namespace {

const std::string kTemplateDir = ATTNBENCH_TEMPLATE_PLUGIN_DIR;
const std::string kBadDir = ATTNBENCH_BAD_METHOD_DIR;
const std::string kMiscDir = ATTNBENCH_MISC_METHOD_DIR;

/// Registers the template and the "failing" test method once for this process.
const MethodPluginScan& good_scan() {
  static const MethodPluginScan scan = load_method_plugins({kTemplateDir, kMiscDir});
  return scan;
}

ab_kv_layer layer_of(int32_t heads_kv, int32_t len_k, int32_t head_dim) {
  ab_kv_layer l{};
  l.heads_q = 2 * heads_kv, l.heads_kv = heads_kv, l.len_k = len_k, l.head_dim = head_dim, l.num_layers = 1;
  return l;
}

std::map<std::string, std::string> reasons_by_file(const MethodPluginScan& scan) {
  std::map<std::string, std::string> out;
  for (const auto& r : scan.rejected) out[std::filesystem::path(r.path).filename().string()] = r.reason;
  return out;
}

}  // namespace

TEST_CASE("the template method plugin registers and plans every second token plus a recent window") {
  const MethodPluginScan& scan = good_scan();
  INFO((scan.rejected.empty() ? "" : scan.rejected[0].path + ": " + scan.rejected[0].reason));
  CHECK(scan.rejected.empty());
  REQUIRE(scan.registered.size() == 2);
  bool listed = false;
  for (const auto& m : kv::kv_methods())
    if (m.name == "template_keep_every_other") {
      listed = true;
      CHECK(m.origin == kTemplateDir + "/libattnbench-method-template.so");
      CHECK(m.options == "recent=32,elem_bytes=2");
      CHECK_THAT(m.description, Catch::Contains("every second token"));
    }
  CHECK(listed);

  const auto policy = kv::make_kv_policy("template_keep_every_other");
  CHECK(policy->name() == "template_keep_every_other");
  CHECK(policy->config() == "template_keep_every_other:recent=32,elem_bytes=2");
  CHECK_FALSE(policy->needs_queries());
  CHECK(kv::make_kv_policy("template_keep_every_other:elem_bytes=4,recent=8")->config() ==
        "template_keep_every_other:recent=8,elem_bytes=4");
  CHECK_THROWS_WITH(kv::make_kv_policy("template_keep_every_other:budget=64"), Catch::Contains("unknown option 'budget'"));
  CHECK_THROWS_AS(kv::make_kv_policy("template_keep_every_other:recent=-1"), std::invalid_argument);

  // 100 tokens, recent 32: the even positions of the first 68 (34) plus the last 32.
  const ab_kv_layer layer = layer_of(2, 100, 8);
  const uint64_t per_head = 66ull * 2 * 8 * 2;
  CHECK(policy->requested_bytes(layer, 2) == 2 * per_head);
  kv::PlanBuffers pb(layer);
  const ab_kv_env env{};  // the method uses no primitive
  policy->compress(env, layer, 2, pb.plan());
  const std::vector<int32_t> kept = pb.kept(1);
  REQUIRE(kept.size() == 66);
  CHECK(kept[0] == 0);
  CHECK(kept[1] == 2);
  CHECK(kept[33] == 66);
  CHECK(kept[34] == 68);
  CHECK(kept[65] == 99);
  CHECK(pb.bytes() == 2 * per_head);
  const kv::BudgetCheck check = kv::check_plan(*policy, layer, 2, pb);
  INFO(check.error);
  CHECK(check.ok);

  // A prompt inside the window keeps everything it has.
  const ab_kv_layer small = layer_of(1, 20, 4);
  CHECK(policy->requested_bytes(small, 2) == 20ull * 2 * 4 * 2);
}

TEST_CASE("the template method runs a recall case on the CPU backend's primitives through the plan executor") {
  good_scan();
  recall::TaskParams p;
  p.len_k = 1024, p.depth = 0.5;
  recall::RecallKnobs knobs;
  knobs.seed = 7;
  const recall::RecallCase rc = recall::make_task(p, knobs);
  const kv::KvCaseRun r = kvtest::run_case(rc, "template_keep_every_other");
  // Every KV head keeps the even positions of the first 992 tokens plus the last 32.
  REQUIRE(r.kept.size() == static_cast<size_t>(rc.heads_kv));
  CHECK(r.kept[0].size() == 496 + 32);
  CHECK(r.metrics.kv_bytes == static_cast<uint64_t>(rc.heads_kv) * (496 + 32) * 2 * rc.head_dim * 2);
  CHECK(r.metrics.kv_bytes * 1.0 / r.metrics.full_bytes == Approx(528.0 / 1024));
  INFO(r.metrics.error);
  CHECK(r.metrics.ok);
  CHECK(r.metrics.mass_kept > 0);
  CHECK(r.metrics.mass_kept < 1);
  // A window past the prompt keeps every token: decode then matches the full cache.
  const kv::KvCaseRun all = kvtest::run_case(rc, "template_keep_every_other:recent=4096");
  CHECK(all.metrics.kv_bytes == all.metrics.full_bytes);
  CHECK(all.metrics.mass_kept == Approx(1.0));
  CHECK(all.metrics.output_error < 1e-5);
  CHECK(all.metrics.accuracy == kvtest::run_case(rc, "full").metrics.accuracy);
}

TEST_CASE("the adapter turns plugin failures into exceptions with the plugin's message") {
  good_scan();
  CHECK_THROWS_WITH(kv::make_kv_policy("test_failing:wrong=1"), Catch::Contains("does not start with 'test_failing:'"));
  CHECK_THROWS_AS(kv::make_kv_policy("test_failing:bad=1"), std::invalid_argument);
  CHECK_THROWS_WITH(kv::make_kv_policy("test_failing:bad=1"), Catch::Contains("option bad is bad"));
  const auto policy = kv::make_kv_policy("test_failing");
  CHECK(policy->config() == "test_failing");
  const ab_kv_layer layer = layer_of(1, 8, 4);
  try {
    policy->requested_bytes(layer, 2);
    FAIL("requested_bytes did not throw");
  } catch (const std::invalid_argument&) {
    FAIL("an internal error must not read as a bad config");
  } catch (const std::runtime_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("test_failing") && Catch::Contains("requested_bytes broke"));
    CHECK(std::string(e.what()).find('\n') == std::string::npos);
  }
  kv::PlanBuffers pb(layer);
  const ab_kv_env env{};
  CHECK_THROWS_AS(policy->compress(env, layer, 2, pb.plan()), kv::KvUnsupported);
  CHECK_THROWS_WITH(policy->compress(env, layer, 2, pb.plan()), Catch::Contains("needs a primitive the backend lacks"));
  const ab_kv_layer one = layer_of(1, 1, 4);
  kv::PlanBuffers pb1(one);
  CHECK_THROWS_AS(policy->compress(env, one, 2, pb1.plan()), std::invalid_argument);
}

TEST_CASE("broken method plugins are refused one line each, naming the file, and register nothing") {
  good_scan();
  const size_t before = kv::kv_methods().size();
  const MethodPluginScan scan = load_method_plugins({kBadDir});
  CHECK(scan.registered.empty());
  CHECK(kv::kv_methods().size() == before);
  const auto reasons = reasons_by_file(scan);
  CHECK(reasons.size() == 9);
  for (const auto& r : scan.rejected) {
    CHECK(r.path.starts_with(kBadDir + "/libattnbench-method-"));
    CHECK(r.reason.find('\n') == std::string::npos);
  }
  auto reason = [&](const std::string& kind) {
    const auto it = reasons.find("libattnbench-method-" + kind + ".so");
    return it == reasons.end() ? std::string("(not refused)") : it->second;
  };
  CHECK_THAT(reason("bad-wrong-abi"), Catch::Contains("KV-method ABI version 7") && Catch::Contains("version 1"));
  CHECK_THAT(reason("bad-short-struct"), Catch::Contains("bytes, expected at least"));
  CHECK_THAT(reason("bad-null-compress"), Catch::Contains("missing (null) entries"));
  CHECK_THAT(reason("bad-bad-name"), Catch::Contains("method name 'bad name:x'"));
  CHECK_THAT(reason("bad-dup-list"), Catch::Contains("listed twice"));
  CHECK_THAT(reason("bad-builtin-clash"), Catch::Contains("'snapkv' is already registered (built-in)"));
  CHECK_THAT(reason("bad-empty-list"), Catch::Contains("method list is empty"));
  CHECK_THAT(reason("bad-no-entry"), Catch::Contains("no entry point 'attnbench_kv_method_entry'"));
  CHECK_THAT(reason("notelf"), Catch::StartsWith("cannot open"));
  // The built-in keeps its name.
  CHECK(kv::make_kv_policy("snapkv")->config().starts_with("snapkv:budget="));
}

TEST_CASE("a method plugin found twice on the path is registered once") {
  good_scan();
  const MethodPluginScan again = load_method_plugins({kTemplateDir});
  CHECK(again.registered.empty());
  REQUIRE(again.rejected.size() == 1);
  CHECK_THAT(again.rejected[0].reason, Catch::Contains("already registered"));
}

TEST_CASE("list methods shows built-in and plugin methods with their origin, and names refused files") {
  const CmdResult plain = run_attnbench("list methods");
  CHECK(plain.code == 0);
  CHECK_THAT(plain.out, Catch::Contains("snapkv") && Catch::Contains("built-in"));
  CHECK(plain.out.find("template_keep_every_other") == std::string::npos);

  const CmdResult r = run_attnbench("list methods", "ATTNBENCH_PLUGIN_PATH='" + kBadDir + ":" + kTemplateDir + "'");
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(line_count(r.out) == line_count(plain.out) + 1);
  CHECK_THAT(r.out, Catch::Contains("template_keep_every_other") && Catch::Contains("plugin") &&
                        Catch::Contains("every second token") && Catch::Contains("libattnbench-method-template.so"));
  CHECK(line_count(r.err) == 9);
  CHECK_THAT(r.err, Catch::Contains("refused method plugin " + kBadDir + "/libattnbench-method-bad-null-compress.so: "));
}

// The example KV method (backends/template/template_keep_every_other.cpp) builds out of
// tree against the installed SDK with find_package(attnbench), shows up in `list methods`
// when its folder is on ATTNBENCH_PLUGIN_PATH, and runs a recall case on the CPU backend
// through the same plan executor as the built-in methods, with the bytes it asks for; on
// the template backend (no KV primitives) its cases are stored unsupported.
#include <catch2/catch.hpp>

#include "cli_harness.h"

using namespace attnbench::test;

namespace {

/// One needle cell, the example method and full, on whichever backend the run selects.
const char* kSuite = R"({"suite": "tkeo", "kind": "recall",
  "defaults": {"repetitions": 1, "min_time": 0, "axes": {"heads_q": 4, "heads_kv": 2, "head_dim": 64}},
  "groups": [{"name": "needle", "task": "single_needle", "axes": {"len_k": 512, "depth": 0.5},
              "methods": ["template_keep_every_other", "template_keep_every_other:recent=100", "full"]}]})";

/// kv_bytes of the case whose config is `config`.
std::string kv_bytes(const std::string& db, const std::string& config) {
  return query_one(db, "SELECT m.value FROM cases c JOIN metrics m ON m.case_id = c.id AND m.name = 'kv_bytes'"
                       " WHERE c.status = 'ok' AND c.config = 'kv=" + config + "'");
}

}  // namespace

TEST_CASE("the example method plugin builds out of tree, is listed and runs a recall case") {
  TempDir t;
  const std::string sdk = t / "sdk", build = t / "build";
  const std::string log = " >>'" + t / "log" + "' 2>&1";
  auto sh = [&](const std::string& cmd) { return std::system((cmd + log).c_str()); };
  REQUIRE(sh("cmake --install '" ATTNBENCH_BINARY_DIR "' --prefix '" + sdk + "'") == 0);
  CHECK(std::filesystem::exists(sdk + "/include/attnbench/kv_method_abi.h"));
  const int configured = sh("cmake -S '" ATTNBENCH_SOURCE_DIR "/backends/template' -B '" + build +
                            "' -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH='" + sdk + "'");
  INFO(read_file(t / "log"));
  REQUIRE(configured == 0);
  REQUIRE(sh("cmake --build '" + build + "'") == 0);
  REQUIRE(std::filesystem::exists(build + "/libattnbench-method-template.so"));

  const std::string env = "ATTNBENCH_PLUGIN_PATH='" + build + "'";
  const CmdResult list = run_attnbench("list methods", env);
  INFO(list.err);
  CHECK(list.code == 0);
  CHECK_THAT(list.out, Catch::Contains("template_keep_every_other") && Catch::Contains(build + "/libattnbench-method-template.so"));
  CHECK(list.err.empty());

  write_file(t / "tkeo.json", kSuite);
  const std::string db = t / "r.db";
  const CmdResult r = run_attnbench("run --suite " + t / "tkeo.json --backend cpu --no-peaks --db " + db, env);
  INFO(r.out + r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("3 cases: 3 ok"));
  // 2 KV heads x (even positions of the first 480 tokens (240) + the last 32) x K and V x 64 x 2 bytes.
  CHECK(kv_bytes(db, "template_keep_every_other:recent=32,elem_bytes=2") == std::to_string(2 * (240 + 32) * 2 * 64 * 2) + ".0");
  CHECK(kv_bytes(db, "template_keep_every_other:recent=100,elem_bytes=2") == std::to_string(2 * (206 + 100) * 2 * 64 * 2) + ".0");
  CHECK(kv_bytes(db, "full:elem_bytes=2") == std::to_string(2 * 512 * 2 * 64 * 2) + ".0");
  // The needle sits at an even or odd position; either way attention mass is counted.
  CHECK(query_one(db, "SELECT count(*) FROM cases c JOIN metrics m ON m.case_id = c.id AND m.name = 'attention_mass_kept'"
                      " WHERE c.config LIKE 'kv=template%' AND m.value > 0 AND m.value <= 1") == "2");

  // The template backend built beside it declares no KV primitives: every KV case is
  // stored unsupported with the reason, none is skipped or refused.
  const std::string tdb = t / "t.db";
  const CmdResult tr = run_attnbench("run --suite " + t / "tkeo.json --backend template --no-peaks --db " + tdb, env);
  INFO(tr.out + tr.err);
  CHECK(tr.code == 0);
  CHECK(query_one(tdb, "SELECT count(*) FROM cases WHERE status = 'unsupported' AND message LIKE '%KV primitives%'") == "3");

  // Without the plugin on the path the suite names an unknown method.
  const CmdResult unknown = run_attnbench("run --suite " + t / "tkeo.json --backend cpu --no-peaks --db " + t / "u.db");
  CHECK(unknown.code == 2);
  CHECK_THAT(unknown.err, Catch::Contains("template_keep_every_other"));
}

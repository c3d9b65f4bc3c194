// An out-of-tree plugin builds against the installed SDK (cmake --install, then
// find_package(attnbench)) and runs under the harness without rebuilding it.
#include <catch2/catch.hpp>

#include "cli_harness.h"
#include "plugin_loader.h"

using namespace attnbench;
using namespace attnbench::test;

TEST_CASE("backends/template builds against the installed SDK and runs cases") {
  TempDir t;
  const std::string sdk = t / "sdk", build = t / "build";
  const std::string log = " >>'" + t / "log" + "' 2>&1";
  auto sh = [&](const std::string& cmd) { return std::system((cmd + log).c_str()); };
  REQUIRE(sh("cmake --install '" ATTNBENCH_BINARY_DIR "' --prefix '" + sdk + "'") == 0);
  CHECK(std::filesystem::exists(sdk + "/include/attnbench/plugin_abi.h"));
  const int configured = sh("cmake -S '" ATTNBENCH_SOURCE_DIR "/backends/template' -B '" + build +
                            "' -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH='" + sdk + "'");
  INFO(read_file(t / "log"));
  REQUIRE(configured == 0);
  REQUIRE(sh("cmake --build '" + build + "'") == 0);

  std::string reason;
  auto plugin = load_plugin(build + "/libattnbench-backend-template.so", reason);
  INFO(reason);
  REQUIRE(plugin != nullptr);
  CHECK(plugin->name() == "template");

  write_file(t / "naive.json", R"({"suite": "naive", "defaults": {"check": "full", "repetitions": 2, "min_time": 0.0},
    "groups": [{"name": "g", "phase": "prefill", "variants": ["naive", "naive:causal", "flash"],
                "axes": {"heads_q": 4, "gqa": [1, 2], "len": [5, 31], "head_dim": 16, "dtype": ["fp32", "bf16"]}}]})");
  const std::string db = t / "r.db";
  const CmdResult r = run_attnbench("run --suite " + t / "naive.json --backend template --no-peaks --db " + db,
                                    "ATTNBENCH_PLUGIN_PATH='" + build + "'");
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(query_one(db, "SELECT count(*) FROM cases WHERE status = 'ok' AND backend = 'template'") == "8");
  CHECK(query_one(db, "SELECT max(value) < 1e-5 FROM metrics WHERE name = 'rel_error'") == "1");
  // Declared capabilities: bf16 and flash are recorded as unsupported with the plugin's reason.
  CHECK(query_one(db, "SELECT count(*) FROM cases WHERE status = 'unsupported'") == "16");
  CHECK_THAT(query_one(db, "SELECT message FROM cases WHERE variant = 'flash' LIMIT 1"), Catch::Contains("only naive"));
}

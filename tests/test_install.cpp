// An installed prefix works on its own: `cmake --install <build> --prefix P` puts the
// binary, every built plugin (P/lib/attnbench/plugins) and the suite files
// (P/share/attnbench/suites) in P, and P/bin/attnbench lists backends and suites and runs
// cases (through worker processes) from an unrelated folder with no ATTNBENCH_* variable
// set. To show that the suites come from P and not from the source tree the binary was
// built from, a suite that exists only in P's share folder must be listed and runnable.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "cli_harness.h"

using namespace attnbench::test;
namespace fs = std::filesystem;

namespace {

/// Runs P/bin/attnbench from `cwd` without ATTNBENCH_SUITES_DIR or ATTNBENCH_PLUGIN_PATH.
CmdResult run_installed(const std::string& prefix, const std::string& cwd, const std::string& args) {
  TempDir io;
  const std::string cmd = "cd '" + cwd + "' && env -u ATTNBENCH_SUITES_DIR -u ATTNBENCH_PLUGIN_PATH '" + prefix +
                          "/bin/attnbench' " + args + " >'" + io / "out" + "' 2>'" + io / "err" + "'";
  const int status = std::system(cmd.c_str());
  CmdResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(io / "out");
  r.err = read_file(io / "err");
  return r;
}

}  // namespace

TEST_CASE("an installed prefix lists and runs without the build or source tree") {
  TempDir t;
  const std::string prefix = t / "prefix", cwd = t / "elsewhere";
  fs::create_directories(cwd);
  const std::string log = t / "install.log";
  const int installed = std::system(("cmake --install '" ATTNBENCH_BINARY_DIR "' --prefix '" + prefix + "' >'" + log + "' 2>&1").c_str());
  INFO(read_file(log));
  REQUIRE(installed == 0);

  const std::string plugins = prefix + "/lib/attnbench/plugins", suites = prefix + "/share/attnbench/suites";
  CHECK(fs::is_regular_file(prefix + "/bin/attnbench"));
  CHECK(fs::is_regular_file(plugins + "/libattnbench-backend-cpu.so"));
  // Every plugin this build made (CUDA and HIP ones when their compilers were present) is
  // installed; the deliberately broken test plugins live elsewhere and are not.
  for (const auto& e : fs::directory_iterator(ATTNBENCH_BIN_DIR "/plugins")) {
    INFO(e.path());
    CHECK(fs::is_regular_file(plugins + "/" + e.path().filename().string()));
  }
  CHECK_FALSE(fs::exists(plugins + "/libattnbench-backend-wrong-abi.so"));
  for (const auto& e : fs::directory_iterator(ATTNBENCH_SOURCE_DIR "/suites")) {
    if (e.path().extension() != ".json") continue;
    INFO(e.path());
    CHECK(fs::is_regular_file(suites + "/" + e.path().filename().string()));
  }
  CHECK_FALSE(fs::exists(suites + "/generators"));  // code, not data

  // A suite only the installed share folder has.
  write_file(suites + "/installed-only.json", R"({"suite": "installed-only", "description": "found in the installed prefix",
    "defaults": {"phase": "prefill", "check": "full", "repetitions": 1, "min_time": 0.0,
                 "axes": {"heads_q": 2, "head_dim": 16}},
    "groups": [{"name": "g", "variants": ["naive", "flash"], "axes": {"len": [8, 24]}}]})");

  CmdResult r = run_installed(prefix, cwd, "list backends");
  INFO(r.out << r.err);
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("cpu") && Catch::Contains("[" + plugins + "/libattnbench-backend-cpu.so]"));
  CHECK_THAT(r.out, !Catch::Contains(ATTNBENCH_BINARY_DIR));

  r = run_installed(prefix, cwd, "list suites");
  INFO(r.out << r.err);
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("installed-only") && Catch::Contains("found in the installed prefix"));
  CHECK_THAT(r.out, Catch::Contains("correctness"));

  // A quick slice of the shipped correctness suite, and the installed-only suite, both
  // through worker processes of the installed binary; relative --db lands in cwd.
  r = run_installed(prefix, cwd, "run --suite correctness --quick --backend cpu --no-peaks --filter 'lk=67,' --db x.db");
  INFO(r.out << r.err);
  CHECK(r.code == 0);
  const std::string db = cwd + "/x.db";
  REQUIRE(fs::is_regular_file(db));
  CHECK(query_one(db, "SELECT count(*) > 0 AND count(*) = sum(status = 'ok') FROM cases") == "1");
  CHECK(query_one(db, "SELECT count(DISTINCT suite) || suite FROM cases") == "1correctness");

  r = run_installed(prefix, cwd, "run --suite installed-only --backend cpu --no-peaks --db y.db");
  INFO(r.out << r.err);
  CHECK(r.code == 0);
  CHECK(query_one(cwd + "/y.db", "SELECT count(*) || '/' || sum(status = 'ok') FROM cases") == "4/4");
}

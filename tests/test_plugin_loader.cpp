// The loader refuses wrong-ABI, entry-less and broken plugins, one line each,
// without stopping the good ones.
#include <catch2/catch.hpp>

#include "plugin_loader.h"

using namespace attnbench;

TEST_CASE("a plugin built for another ABI version is refused with the versions named") {
  std::string reason;
  auto p = load_plugin(ATTNBENCH_TEST_PLUGIN_DIR "/libattnbench-backend-wrong-abi.so", reason);
  CHECK(p == nullptr);
  CHECK_THAT(reason, Catch::Contains("ABI version 42") && Catch::Contains("version 1"));
  CHECK(reason.find('\n') == std::string::npos);
}

TEST_CASE("a plugin without the entry point is refused") {
  std::string reason;
  CHECK(load_plugin(ATTNBENCH_TEST_PLUGIN_DIR "/libattnbench-backend-no-entry.so", reason) == nullptr);
  CHECK_THAT(reason, Catch::Contains("no entry point 'attnbench_plugin_entry'"));
}

TEST_CASE("a file that is not a shared library is refused") {
  std::string reason;
  CHECK(load_plugin(ATTNBENCH_TEST_PLUGIN_DIR "/libattnbench-backend-broken.so", reason) == nullptr);
  CHECK_THAT(reason, Catch::StartsWith("cannot open"));
  CHECK(reason.find('\n') == std::string::npos);
}

TEST_CASE("bad plugins do not stop the good ones, and duplicates are refused") {
  const PluginScan scan = scan_plugins({ATTNBENCH_TEST_PLUGIN_DIR, ATTNBENCH_BIN_DIR "/plugins", ATTNBENCH_BIN_DIR "/plugins"});
  bool has_cpu = false;
  for (const auto& p : scan.plugins) has_cpu |= p->name() == "cpu";
  CHECK(has_cpu);
  int bad = 0, dup = 0;
  for (const auto& r : scan.rejected) {
    bad += r.path.find("test-plugins") != std::string::npos;
    dup += r.reason.find("already loaded") != std::string::npos;
    CHECK_FALSE(r.reason.empty());
  }
  CHECK(bad == 3);
  CHECK(dup >= 1);
}

TEST_CASE("the CPU plugin table is complete and speaks this ABI") {
  std::string reason;
  auto p = load_plugin(ATTNBENCH_BIN_DIR "/plugins/libattnbench-backend-cpu.so", reason);
  REQUIRE(p != nullptr);
  CHECK(p->table().api_version == ATTNBENCH_PLUGIN_API_VERSION);
  CHECK(p->table().device_count() >= 1);
  bool has_flash = false;
  for (const char* const* v = p->table().variants; *v; ++v) has_flash |= std::string(*v) == "flash";
  CHECK(has_flash);
}

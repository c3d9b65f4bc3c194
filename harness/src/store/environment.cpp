#include "environment.h"

#include <CLI/Version.hpp>
#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/utsname.h>
#include <tbb/version.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "generator_version.h"

namespace attnbench {
namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

/// Output of a fixed command (no user data reaches the shell).
std::string command_output(const char* cmd) {
  std::array<char, 256> buf{};
  std::string out;
  if (FILE* p = popen(cmd, "r")) {
    while (fgets(buf.data(), buf.size(), p)) out += buf.data();
    pclose(p);
  }
  return trim(out);
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("model name")) return trim(line.substr(line.find(':') + 2));
  return "unknown";
}

}  // namespace

store::RunRecord capture_environment() {
  store::RunRecord r;
  std::string sha = command_output("git -C '" ATTNBENCH_SOURCE_DIR "' rev-parse HEAD 2>/dev/null");
  if (!sha.empty() && !command_output("git -C '" ATTNBENCH_SOURCE_DIR "' status --porcelain --untracked-files=no 2>/dev/null").empty())
    sha += "-dirty";
  r.git_sha = sha.empty() ? "unknown" : sha;
  r.build_type = ATTNBENCH_BUILD_TYPE;
  r.compiler = ATTNBENCH_CXX_COMPILER;
  r.compile_flags = trim(ATTNBENCH_CXX_FLAGS);
  nlohmann::json libs = {
      {"attnbench", ATTNBENCH_VERSION},
      {"generator", std::to_string(gen::kGeneratorVersion)},
      {"sqlite", sqlite3_libversion()},
      {"oneTBB", fmt::format("{}.{}", TBB_VERSION_MAJOR, TBB_VERSION_MINOR)},
      {"fmt", fmt::format("{}.{}.{}", FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100)},
      {"nlohmann_json", fmt::format("{}.{}.{}", NLOHMANN_JSON_VERSION_MAJOR, NLOHMANN_JSON_VERSION_MINOR,
                                    NLOHMANN_JSON_VERSION_PATCH)},
      {"CLI11", CLI11_VERSION},
#ifdef ATTNBENCH_BENCHMARK_VERSION
      {"google_benchmark", ATTNBENCH_BENCHMARK_VERSION},
#endif
  };
  r.library_versions = libs.dump();
  std::array<char, 256> host{};
  gethostname(host.data(), host.size() - 1);
  r.host = host.data();
  utsname u{};
  if (uname(&u) == 0) r.os = fmt::format("{} {} {}", u.sysname, u.release, u.machine);
  r.cpu = fmt::format("{} ({} logical CPUs)", cpu_model(), sysconf(_SC_NPROCESSORS_ONLN));
  return r;
}

std::vector<std::pair<std::string, std::string>> environment_table(const store::RunRecord& r) {
  return {{"git_sha", r.git_sha},   {"build_type", r.build_type}, {"compiler", r.compiler},
          {"compile_flags", r.compile_flags}, {"libraries", r.library_versions}, {"host", r.host},
          {"os", r.os},             {"cpu", r.cpu},               {"gpu", r.gpu.empty() ? "none" : r.gpu},
          {"driver", r.driver.empty() ? "n/a" : r.driver}};
}

}  // namespace attnbench

// The "gbench" export format: the JSON Google Benchmark's --benchmark_out writes, so its
// tools/compare.py (and anything else that reads that format) compares attnbench runs.
#include <nlohmann/json.hpp>

#include <cctype>
#include <cmath>

#include "export_results.h"

namespace attnbench::exporter {
namespace {

// Keys in insertion order: identity first, as a reader expects (and as Google Benchmark writes).
using json = nlohmann::ordered_json;

/// N from the recorded "<model> (N logical CPUs)"; 0 when the run did not record it.
int num_cpus(const std::string& cpu) {
  const size_t at = cpu.rfind(" logical CPUs)");
  if (at == std::string::npos) return 0;
  size_t start = at;
  while (start > 0 && std::isdigit(static_cast<unsigned char>(cpu[start - 1]))) --start;
  return start < at ? std::stoi(cpu.substr(start, at - start)) : 0;
}

/// argv[0] of the recorded command line.
std::string executable(const std::string& command_line) { return command_line.substr(0, command_line.find(' ')); }

json context(const ExportRun& r) {
  // Google Benchmark reports the build type of its library; ours is the closest equivalent.
  // The clock speed and caches are not recorded by attnbench: 0 and [] (compare.py ignores them).
  json ctx = {{"date", r.run.started_at},
              {"host_name", r.run.host},
              {"executable", executable(r.run.command_line)},
              {"num_cpus", num_cpus(r.run.cpu)},
              {"mhz_per_cpu", 0},
              {"caches", json::array()},
              {"library_build_type", r.run.build_type == "Debug" ? "debug" : "release"},
              {"json_schema_version", 1},
              {"attnbench_run_id", r.run.id},
              {"attnbench_git_sha", r.run.git_sha},
              {"attnbench_build_type", r.run.build_type}};
  json skipped = json::array();
  for (const auto& c : r.cases)
    if (c.samples.empty()) skipped.push_back({{"name", c.case_key}, {"status", c.status}, {"message", c.message}});
  ctx["attnbench_cases_without_samples"] = std::move(skipped);
  return ctx;
}

}  // namespace

std::string to_gbench(const ExportRun& r) {
  json benchmarks = json::array();
  for (size_t i = 0; i < r.cases.size(); ++i) {
    const store::CaseRecord& c = r.cases[i];
    int repetitions = 0;  // only finite samples become entries: JSON has no NaN
    for (const auto& s : c.samples) repetitions += std::isfinite(s.seconds) && s.seconds >= 0;
    for (const auto& s : c.samples) {
      if (!(std::isfinite(s.seconds) && s.seconds >= 0)) continue;
      // Kernel time only (manual timing), so cpu_time is the same figure as real_time.
      const double ns = s.seconds * 1e9;
      json b = {{"name", c.case_key},       {"family_index", i},          {"per_family_instance_index", 0},
                {"run_name", c.case_key},   {"run_type", "iteration"},    {"repetitions", repetitions},
                {"repetition_index", s.repetition}, {"threads", 1},       {"iterations", s.iterations},
                {"real_time", ns},          {"cpu_time", ns},             {"time_unit", "ns"}};
      // User counters, as SetBytesProcessed/SetItemsProcessed would write them (per second).
      if (c.bytes && std::isfinite(*c.bytes) && s.seconds > 0) b["bytes_per_second"] = *c.bytes / s.seconds;
      if (c.flops && std::isfinite(*c.flops) && s.seconds > 0) b["flops_per_second"] = *c.flops / s.seconds;
      if (c.status != "ok") {
        b["error_occurred"] = true;
        b["error_message"] = c.status + (c.message.empty() ? "" : ": " + c.message);
      }
      benchmarks.push_back(std::move(b));
    }
  }
  const json out = {{"context", context(r)}, {"benchmarks", std::move(benchmarks)}};
  return out.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace attnbench::exporter

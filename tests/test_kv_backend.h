// The KV tests run every method through the built CPU plugin's KV primitives, as the
// worker does: one opened CPU device shared by a test binary, and run_recall_case(),
// which compresses, checks the plan's budget (throws on a mismatch), decodes on the
// backend and scores against the fp64 oracle.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include "backend.h"
#include "plugin_loader.h"
#include "recall_kv_case.h"
#include "recall_oracle.h"
#include "recall_tasks.h"

namespace attnbench::kvtest {

/// The CPU plugin, opened once (threads=2).
struct CpuBackend {
  std::unique_ptr<LoadedPlugin> plugin;
  std::unique_ptr<Backend> device;
  ab_kv_env env{};
};

inline CpuBackend& cpu() {
  static CpuBackend b = [] {
    CpuBackend c;
    std::string why;
    c.plugin = load_plugin(std::string(ATTNBENCH_BIN_DIR) + "/plugins/libattnbench-backend-cpu.so", why);
    if (!c.plugin) throw std::runtime_error("cannot load the CPU plugin: " + why);
    c.device = std::make_unique<Backend>(*c.plugin, 0, "threads=2");
    c.env = {&c.device->table(), c.device->context()};
    return c;
  }();
  return b;
}

/// Runs `config` on rc through the CPU plugin; throws std::runtime_error when the plan
/// fails its budget check (like the old require_budget), else returns the scored metrics.
inline kv::KvCaseRun run_case(const recall::RecallCase& rc, const std::string& config) {
  kv::KvCaseRun r = kv::run_kv_case(cpu().env, rc, config);
  if (!r.budget.ok) throw std::runtime_error("kv budget check failed: " + r.budget.error);
  return r;
}

/// The metrics of run_case.
inline kv::RecallMetrics run_recall_case(const recall::RecallCase& rc, const std::string& config) {
  return run_case(rc, config).metrics;
}

}  // namespace attnbench::kvtest

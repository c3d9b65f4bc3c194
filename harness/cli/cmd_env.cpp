#include <fmt/format.h>

#include "commands.h"
#include "backend.h"
#include "environment.h"
#include "plugin_loader.h"

namespace attnbench::cli {

Command add_env_command(CLI::App& app) {
  app.add_subcommand("env", "Print the provenance a run would record (build, libraries, host, devices)");
  return []() {
    const store::RunRecord r = capture_environment();
    for (const auto& [k, v] : environment_table(r)) fmt::print("{:<14} {}\n", k, v);
    const PluginScan scan = scan_plugins(plugin_search_dirs());
    for (const auto& p : scan.plugins) {
      const int n = p->table().device_count();
      if (n < 1) {
        fmt::print("{:<14} no device\n", "backend " + p->name());
        continue;
      }
      try {
        Backend be(*p, 0, "");
        fmt::print("{:<14} {} ({} compute units, {:.1f} GiB{}{})\n", "backend " + p->name(), be.info().name,
                   be.info().compute_units, be.info().memory_bytes / 1073741824.0,
                   be.info().driver[0] ? ", driver " : "", be.info().driver);
      } catch (const BackendError& e) {
        fmt::print("{:<14} {}\n", "backend " + p->name(), e.what());
      }
    }
    for (const auto& rej : scan.rejected) fmt::print("{:<14} {}: {}\n", "refused", rej.path, rej.reason);
    return kOk;
  };
}

}  // namespace attnbench::cli

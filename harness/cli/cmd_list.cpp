#include <fmt/format.h>

#include "commands.h"
#include "plugin_loader.h"
#include "suite_file.h"
#include "variant_registry.h"

namespace attnbench::cli {

Command add_list_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("list", "List backends, variants or suites");
  auto what = std::make_shared<std::string>();
  auto suites_dir = std::make_shared<std::string>();
  cmd->add_option("what", *what, "backends | variants | suites")
      ->required()
      ->check(CLI::IsMember({"backends", "variants", "methods", "suites"}));
  cmd->add_option("--suites-dir", *suites_dir, "Directory of suite files");
  return [what, suites_dir]() {
    if (*what == "backends") {
      const PluginScan scan = scan_plugins(plugin_search_dirs());
      for (const auto& p : scan.plugins) {
        const ab_plugin& t = p->table();
        fmt::print("{:<8} {} device(s)  {}  [{}]\n", t.name, t.device_count(), t.description, p->path());
      }
      for (const auto& r : scan.rejected) fmt::print(stderr, "refused {}: {}\n", r.path, r.reason);
      if (scan.plugins.empty()) fmt::print(stderr, "no backend plugins found in {}\n", fmt::join(plugin_search_dirs(), ", "));
    } else if (*what == "variants") {
      for (const auto& v : all_variants()) fmt::print("{:<10} {}{}\n", v.name, v.description, v.exact ? "" : " (approximate)");
    } else if (*what == "methods") {
      fmt::print("no KV-cache methods are registered in this build\n");
    } else {
      const std::string dir = suites_dir->empty() ? default_suites_dir() : *suites_dir;
      for (const auto& name : list_suites(dir)) {
        const Suite full = load_suite(resolve_suite(dir, name), false);
        const Suite quick = load_suite(resolve_suite(dir, name), true);
        fmt::print("{:<14} {:>5} cases ({:>4} quick)  {}\n", name, full.cases.size(), quick.cases.size(), full.description);
      }
    }
    return kOk;
  };
}

}  // namespace attnbench::cli

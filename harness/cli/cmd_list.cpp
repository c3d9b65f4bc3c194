#include <fmt/format.h>

#include <algorithm>

#include "campaigns.h"
#include "commands.h"
#include "kv_policy.h"
#include "method_plugin_loader.h"
#include "plugin_loader.h"
#include "results_store.h"
#include "suite_file.h"
#include "variant_registry.h"

namespace attnbench::cli {
namespace {

/// `list methods`: one line per KV method, built-in and plugged in, with its origin
/// ("built-in", or "plugin" and the file it came from) and description; method plugins
/// the loader refused are named on stderr with the reason, and the listing goes on.
ExitCode list_methods() {
  const MethodPluginScan& scan = plugin_method_scan();
  const std::vector<kv::KvMethodInfo> methods = kv::kv_methods();
  size_t width = 0;
  for (const auto& m : methods) width = std::max(width, m.name.size());
  for (const auto& m : methods) {
    const bool builtin = m.origin == "built-in";
    fmt::print("{:<{}}  {:<8}  {}{}\n", m.name, width, builtin ? "built-in" : "plugin", m.description,
               builtin ? "" : fmt::format("  [{}]", m.origin));
  }
  for (const auto& r : scan.rejected) fmt::print(stderr, "refused method plugin {}: {}\n", r.path, r.reason);
  return kOk;
}

/// "1a2b3c4d5e" from a full sha, keeping the "-dirty" mark of a run from a modified tree.
std::string short_sha(const std::string& sha) {
  const bool dirty = sha.size() > 6 && sha.compare(sha.size() - 6, 6, "-dirty") == 0;
  const std::string bare = dirty ? sha.substr(0, sha.size() - 6) : sha;
  return (bare.size() > 10 ? bare.substr(0, 10) : bare) + (dirty ? "-dirty" : "");
}

/// `list runs`: one line per run with its case counts. "failed" counts the statuses that
/// make `run` exit 1 (failed, error, crashed, timeout); "other" the cases that did not run
/// or were refused (unsupported, no_device, oom).
ExitCode list_runs(const std::string& path) {
  store::ResultsStore db(path, /*read_only=*/true);
  store::Statement s(db.connection().handle(),
                     "SELECT r.id, r.started_at, coalesce(r.git_sha, ''), r.status, count(c.id),"
                     " coalesce(sum(c.status = 'ok'), 0),"
                     " coalesce(sum(c.status IN ('failed', 'error', 'crashed', 'timeout')), 0)"
                     " FROM runs r LEFT JOIN cases c ON c.run_id = r.id GROUP BY r.id ORDER BY r.id");
  int runs = 0;
  while (s.step()) {
    const int64_t total = s.column_int(4), ok = s.column_int(5), failed = s.column_int(6);
    const int64_t id = s.column_int(0);
    fmt::print("run {:<4} campaign {:<16} {}  git {:<16} {:<10} {} cases: {} ok, {} failed, {} other\n", id,
               store::campaign_of(db, id), s.column_text(1), short_sha(s.column_text(2)), s.column_text(3), total, ok,
               failed, total - ok - failed);
    ++runs;
  }
  if (runs == 0) fmt::print("no runs in '{}'\n", path);
  return kOk;
}

}  // namespace


Command add_list_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("list", "List backends, variants, methods, suites or stored runs");
  auto what = std::make_shared<std::string>();
  auto suites_dir = std::make_shared<std::string>();
  auto db = std::make_shared<std::string>("results.db");
  cmd->add_option("what", *what, "backends | variants | methods | suites | runs")
      ->required()
      ->check(CLI::IsMember({"backends", "variants", "methods", "suites", "runs"}));
  cmd->add_option("--suites-dir", *suites_dir, "Directory of suite files");
  cmd->add_option("--db", *db, "Results database for 'list runs' (opened read-only)");
  return [what, suites_dir, db]() {
    if (*what == "runs") return list_runs(*db);
    if (*what == "backends") {
      const PluginScan scan = scan_plugins(plugin_search_dirs());
      for (const auto& p : scan.plugins) {
        const ab_plugin& t = p->table();
        fmt::print("{:<8} {} device(s)  {}  [{}]\n", t.name, t.device_count(), t.description, p->path());
      }
      for (const auto& r : scan.rejected) fmt::print(stderr, "refused {}: {}\n", r.path, r.reason);
      if (scan.plugins.empty()) fmt::print(stderr, "no backend plugins found in {}\n", fmt::join(plugin_search_dirs(), ", "));
    } else if (*what == "variants") {
      for (const auto& v : all_variants()) fmt::print("{:<15} {}{}\n", v.name, v.description, v.exact ? "" : " (approximate)");
    } else if (*what == "methods") {
      return list_methods();
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

#include <fmt/format.h>

#include <map>

#include "campaigns.h"
#include "commands.h"
#include "kv_method.h"
#include "plugin_loader.h"
#include "results_store.h"
#include "suite_file.h"
#include "variant_registry.h"

namespace attnbench::cli {
namespace {

/// One line per KV-cache method (CATALOG "KV-cache compression methods"); the names
/// themselves come from the library so a new method is listed even before it is described here.
std::string method_description(const std::string& name) {
  static const std::map<std::string, std::string> text = {
      {"full", "keeps every token (reference; compression 1x)"},
      {"streaming", "StreamingLLM: attention sinks + recent window (budget, sink)"},
      {"h2o", "H2O: heavy hitters by accumulated attention + recent tokens (budget, recent)"},
      {"a2sf", "A2SF: H2O with a forgetting factor on accumulated attention (budget, lambda)"},
      {"tova", "TOVA: evicts the token the last query attends least (budget)"},
      {"snapkv", "SnapKV: pooled attention of an observation window at the prompt end (budget, window, pool)"},
      {"pyramidkv", "PyramidKV: SnapKV with budgets shrinking across layers (budget, beta)"},
      {"l2norm", "keeps the keys with the lowest L2 norm (budget)"},
      {"expected_attention", "scores keys by attention expected from future queries (budget, window)"},
      {"duo", "DuoAttention: retrieval heads keep all, streaming heads sinks + recent (retrieval, recent)"},
      {"razor", "RazorAttention: duo plus a compensation token per streaming head"},
      {"kivi", "KIVI: 2/4-bit keys per channel, values per token, fp residual (bits, group, residual)"},
      {"int8", "symmetric int8 per token with an fp16 scale"},
      {"random", "uniformly random tokens (budget, seed): the floor a method must beat"}};
  const auto it = text.find(name);
  return it == text.end() ? "" : it->second;
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
      for (const auto& name : kv::kv_method_names()) fmt::print("{:<19} {}\n", name, method_description(name));
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

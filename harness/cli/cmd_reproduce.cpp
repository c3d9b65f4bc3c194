// `attnbench reproduce RUN`: re-run a stored run from its selection and seed, then check
// quality bit for bit and noisy measurements within noise (exit 0 agrees, 1 differs).
#include <fmt/format.h>

#include "commands.h"
#include "compare_args.h"
#include "compare_format.h"
#include "reproduce.h"

namespace attnbench::cli {

Command add_reproduce_command(CLI::App& app, const std::string& command_line) {
  auto* cmd = app.add_subcommand("reproduce", "Re-run a stored run (same selection and seed) and check it agrees");
  struct Args {
    int64_t run = 0;
    std::string db = "results.db", suites_dir, alpha = "0.05", threshold = "5%";
    bool no_peaks = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("RUN", a->run, "Run id to reproduce")->required();
  cmd->add_option("--db", a->db, "Results database (the new run is stored here too)");
  cmd->add_option("--suites-dir", a->suites_dir, "Directory of suite files");
  cmd->add_option("--alpha", a->alpha, "Significance level for the time check (default 0.05)");
  cmd->add_option("--threshold", a->threshold, "Times agree unless the median moved more than this (default 5%)");
  cmd->add_flag("--no-peaks", a->no_peaks, "Skip measuring machine peaks");
  return [a, command_line]() {
    ReproduceOptions o;
    o.db_path = a->db;
    o.run_id = a->run;
    o.suites_dir = a->suites_dir;
    o.measure_peaks = !a->no_peaks;
    o.command_line = command_line;
    o.compare.alpha = compare::parse_fraction(a->alpha, "--alpha");
    o.compare.threshold = compare::parse_fraction(a->threshold, "--threshold");
    o.progress = [](const std::string& line) { fmt::print(stderr, "{}\n", line); };
    const PluginScan plugins = scan_plugins(plugin_search_dirs());
    for (const auto& r : plugins.rejected) fmt::print(stderr, "attnbench: refused plugin {}: {}\n", r.path, r.reason);
    const ReproduceResult r = reproduce_run(o, plugins);
    for (const auto& n : r.notes) fmt::print("note: {}\n", n);
    constexpr size_t kShown = 20;
    for (size_t i = 0; i < r.mismatches.size() && i < kShown; ++i) fmt::print("differs: {}\n", r.mismatches[i]);
    if (r.mismatches.size() > kShown) fmt::print("... and {} more differences\n", r.mismatches.size() - kShown);
    int timed = 0, inconclusive = 0;
    for (const auto& c : r.comparison.cases)
      if (c.time) (c.time->inconclusive ? inconclusive : timed) += 1;
    fmt::print("reproduce run {} as run {}: {} cases, {} quality values bit-identical of {}, {} noisy values within "
               "tolerance of {}, {} timed cases compared{}: {}\n",
               r.original_run, r.new_run, r.comparison.cases.size(), r.quality_identical, r.quality_checked,
               r.noisy_within, r.noisy_checked, timed,
               inconclusive ? fmt::format(" ({} with too few repetitions to test)", inconclusive) : "",
               r.agrees() ? "agrees" : fmt::format("{} differences", r.mismatches.size()));
    return r.agrees() ? kOk : kFailures;
  };
}

}  // namespace attnbench::cli
